/**
 * DigitalOcean's per-token limits: every request has its own one-hour (and one-minute) timer
 * rather than a fixed window that resets at once, so `ratelimit-reset` is when the *oldest*
 * counted request expires, and capacity trickles back one request at a time.
 *
 * Choices (documented for users of the simulator):
 * - A request refused with 429 is not counted; waiting out the window is therefore enough.
 * - The hourly limit is checked first: when it is exhausted a minute's wait would not help, so
 *   that 429 carries no `retry-after`. Only the per-minute (burst) 429 carries one, and then
 *   `ratelimit-remaining` is 0, as in DigitalOcean's documented burst sample.
 * - Disabled limits still send the headers (with a very large limit) and keep no history.
 */

export interface RateLimitConfig {
  perMinute: number;
  perHour: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** `ratelimit-limit`: the hourly limit. */
  limit: number;
  remaining: number;
  /** `ratelimit-reset`, Unix seconds. */
  resetSeconds: number;
  /** Only for a per-minute refusal. */
  retryAfterSeconds?: number;
  exceeded?: 'hour' | 'minute';
}

export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;
const UNLIMITED = 1_000_000_000;

/**
 * One token's counted request times, oldest first. Two heads into one array give both windows
 * in O(1) amortized time; the array never holds more than `perHour` live entries because
 * refused requests are not recorded.
 */
class TokenWindow {
  private times: number[] = [];
  private hourHead = 0;
  private minuteHead = 0;

  evict(now: number): void {
    const { times } = this;
    while (this.hourHead < times.length && (times[this.hourHead] as number) + HOUR_MS <= now) this.hourHead++;
    if (this.minuteHead < this.hourHead) this.minuteHead = this.hourHead;
    while (this.minuteHead < times.length && (times[this.minuteHead] as number) + MINUTE_MS <= now)
      this.minuteHead++;
    // Compact only when the dead prefix dominates, so the copy is amortized away.
    if (this.hourHead > 1024 && this.hourHead * 2 > times.length) {
      this.times = times.slice(this.hourHead);
      this.minuteHead -= this.hourHead;
      this.hourHead = 0;
    }
  }

  get hourCount(): number {
    return this.times.length - this.hourHead;
  }

  get minuteCount(): number {
    return this.times.length - this.minuteHead;
  }

  oldestInHour(): number | undefined {
    return this.times[this.hourHead];
  }

  oldestInMinute(): number | undefined {
    return this.times[this.minuteHead];
  }

  record(now: number): void {
    // A fake clock may step backwards; keep the array sorted so the heads stay valid.
    const last = this.times[this.times.length - 1];
    this.times.push(last !== undefined && last > now ? last : now);
  }

  /** Forget the most recent request (used when an injected 429 replaces its answer). */
  unrecord(): void {
    if (this.times.length > this.hourHead) this.times.pop();
    if (this.minuteHead > this.times.length) this.minuteHead = this.times.length;
  }
}

export class SlidingWindowRateLimiter {
  private readonly windows = new Map<string, TokenWindow>();
  private config: RateLimitConfig | false;

  constructor(config: RateLimitConfig | false) {
    this.config = config;
  }

  get limit(): number {
    return this.config === false ? UNLIMITED : this.config.perHour;
  }

  /** Decide, and count the request if it is allowed. */
  consume(key: string, now: number): RateLimitDecision {
    const config = this.config;
    if (config === false) return this.unlimited(now);
    const window = this.window(key);
    window.evict(now);
    if (window.hourCount >= config.perHour) {
      return {
        allowed: false,
        limit: config.perHour,
        remaining: 0,
        resetSeconds: this.resetSeconds(window, now),
        exceeded: 'hour',
      };
    }
    if (window.minuteCount >= config.perMinute) {
      const oldest = window.oldestInMinute() ?? now;
      return {
        allowed: false,
        limit: config.perHour,
        remaining: 0,
        resetSeconds: this.resetSeconds(window, now),
        retryAfterSeconds: Math.max(1, Math.ceil((oldest + MINUTE_MS - now) / 1000)),
        exceeded: 'minute',
      };
    }
    window.record(now);
    return {
      allowed: true,
      limit: config.perHour,
      remaining: config.perHour - window.hourCount,
      resetSeconds: this.resetSeconds(window, now),
    };
  }

  /** The headers a request would see without counting it (401s, injected 429s). */
  peek(key: string, now: number): RateLimitDecision {
    const config = this.config;
    if (config === false) return this.unlimited(now);
    const window = this.windows.get(key);
    if (window === undefined) {
      return {
        allowed: true,
        limit: config.perHour,
        remaining: config.perHour,
        resetSeconds: Math.ceil(now / 1000),
      };
    }
    window.evict(now);
    return {
      allowed: window.hourCount < config.perHour && window.minuteCount < config.perMinute,
      limit: config.perHour,
      remaining: Math.max(0, config.perHour - window.hourCount),
      resetSeconds: this.resetSeconds(window, now),
    };
  }

  refund(key: string): void {
    this.windows.get(key)?.unrecord();
  }

  private window(key: string): TokenWindow {
    let window = this.windows.get(key);
    if (window === undefined) {
      window = new TokenWindow();
      this.windows.set(key, window);
    }
    return window;
  }

  private resetSeconds(window: TokenWindow, now: number): number {
    const oldest = window.oldestInHour();
    return Math.ceil((oldest === undefined ? now : oldest + HOUR_MS) / 1000);
  }

  private unlimited(now: number): RateLimitDecision {
    return { allowed: true, limit: UNLIMITED, remaining: UNLIMITED, resetSeconds: Math.ceil(now / 1000) };
  }
}
