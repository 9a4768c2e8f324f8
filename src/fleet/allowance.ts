import type { BudgetUsage } from '../digitalocean/request-budget.js';

const HOUR_MS = 3_600_000;

/**
 * How many requests the sweeper may spend now. DigitalOcean's windows slide, so a burst spends
 * capacity that only comes back an hour later; the sweeper therefore paces itself to the hourly
 * limit (a token bucket refilled at the hourly rate, holding at most five minutes of it) and never
 * asks for more than the shared budget has left in either window, nor more than
 * `ratelimit-remaining` leaves after the share kept for other users of the token.
 */
export class Allowance {
  private tokens: number | undefined;
  private capacity = 0;
  private refilledAt = 0;

  /** `reservedForOthers`: requests per hour the headroom keeps for other users of the token. */
  constructor(private readonly reservedForOthers: number) {}

  /** Requests available now, on the clock of DigitalOcean's windows (`apiNow`). */
  available(usage: BudgetUsage, apiNow: number): number {
    const hourLimit = usage.hour.limit;
    const capacity = Math.max(2, Math.round(hourLimit / 12));
    this.capacity = capacity;
    const rate = Math.max(hourLimit - capacity, hourLimit / 2) / HOUR_MS;
    if (this.tokens === undefined) this.tokens = capacity;
    else this.tokens = Math.min(capacity, this.tokens + Math.max(0, apiNow - this.refilledAt) * rate);
    this.refilledAt = apiNow;
    if (usage.pausedUntil > 0) return 0;
    const hard = Math.min(
      usage.minute.limit - usage.minute.used,
      hourLimit - usage.hour.used,
      usage.estimatedRemaining === null
        ? Number.POSITIVE_INFINITY
        : usage.estimatedRemaining - this.reservedForOthers,
    );
    return Math.max(0, Math.floor(Math.min(this.tokens, hard)));
  }

  /** More than half the burst is unspent: the sweeper can afford to look more often than it must. */
  get plentiful(): boolean {
    return this.tokens !== undefined && this.tokens >= this.capacity / 2;
  }

  /**
   * The least worth (expected ended actions) a request should have now: none while most of the
   * burst is left, rising to `atEmpty` as it runs out, so that the burst is not spent on looks
   * that find nothing just before many actions end.
   */
  minWorth(atEmpty = 2): number {
    if (this.tokens === undefined || this.capacity === 0) return 0;
    const spent = 1 - Math.max(0, Math.min(1, this.tokens / this.capacity));
    return spent <= 0.25 ? 0 : atEmpty * ((spent - 0.25) / 0.75) ** 2;
  }

  spend(requests: number): void {
    if (this.tokens !== undefined) this.tokens -= requests;
  }
}
