import type { BudgetUsage } from '../digitalocean/request-budget.js';
import { type Pace, projectPace } from './hourly-projection.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** What the sweeper expects to need: for how long, and how many requests a minute at most. */
export interface Demand {
  horizonMs: number;
  perMinute: number;
}

/** With nothing known of the demand, assume the hour is needed in full (steady hourly pace). */
const UNKNOWN_DEMAND: Demand = { horizonMs: HOUR_MS, perMinute: Number.POSITIVE_INFINITY };

/**
 * How many requests the sweeper may spend now: a token bucket holding at most five minutes of the
 * hourly rate, refilled at the pace `projectPace` allows (the minute's allowance while the
 * projected hour stays within its limit, the hourly rate once it would not). It never asks for more
 * than the shared budget has left in either window, nor more than `ratelimit-remaining` leaves
 * after the share kept for other users of the token.
 */
export class Allowance {
  private tokens: number | undefined;
  private capacity = 0;
  private refilledAt = 0;

  /** `reservedForOthers`: requests per hour the headroom keeps for other users of the token. */
  constructor(private readonly reservedForOthers: number) {}

  /**
   * Requests available now, on the clock of DigitalOcean's windows (`apiNow`), and the pace the
   * bucket refilled at (its mode and requests a minute).
   */
  available(
    usage: BudgetUsage,
    apiNow: number,
    demand: Demand = UNKNOWN_DEMAND,
  ): { requests: number; pace: Pace } {
    const hourLimit = usage.hour.limit;
    const capacity = Math.max(2, Math.round(hourLimit / 12));
    this.capacity = capacity;
    const pace = projectPace({
      minute: usage.minute,
      hour: usage.hour,
      horizonMs: demand.horizonMs,
      demandPerMinute: demand.perMinute,
      reserve: capacity,
    });
    const rate = pace.perMinute / MINUTE_MS;
    if (this.tokens === undefined) this.tokens = capacity;
    else this.tokens = Math.min(capacity, this.tokens + Math.max(0, apiNow - this.refilledAt) * rate);
    this.refilledAt = apiNow;
    if (usage.pausedUntil > 0) return { requests: 0, pace };
    const hard = Math.min(
      usage.minute.limit - usage.minute.used,
      hourLimit - usage.hour.used,
      usage.estimatedRemaining === null
        ? Number.POSITIVE_INFINITY
        : usage.estimatedRemaining - this.reservedForOthers,
    );
    return { requests: Math.max(0, Math.floor(Math.min(this.tokens, hard))), pace };
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
