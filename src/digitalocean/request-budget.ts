import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { profilePrefix } from '../support/key-prefix.js';
import { LuaScript } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import { sleep } from '../support/sleep.js';
import type { RateLimitSnapshot } from './rate-limit-headers.js';
import type { RequestGate } from './request-gate.js';

/**
 * One DigitalOcean token's request budget, shared through Redis by every process that uses it.
 *
 * All state lives under `${prefix}:budget:${profile}:` (see budgetKeys) and changes only inside Lua scripts, so any
 * number of workers can meter the same token without ever granting more than the limits allow:
 *
 * - `minute` and `hour`: sorted sets of granted requests (score = grant time in ms), trimmed on every
 *   call. A request counts for 60 s in one and 3600 s in the other, DigitalOcean's sliding windows.
 *   Effective limits are floor(limit × (1 − headroom)), at least 1.
 * - `state`: a hash holding the shared pause after a 429 (`pausedUntil`), the last observed
 *   `ratelimit-remaining`/`-reset`/`-limit` and how many requests were granted since (`spent`), the last
 *   grant time (for pacing) and the sequence that names window members.
 *
 * `ratelimit-remaining` counts every client of the token, so it is the truth when others use it too:
 * while the observation is fresh (before its reset), left = remaining − spent; if left minus the
 * headroom share of the hourly limit is ≤ 0 nothing is granted until the reset, and once left falls below
 * 20 % of the hourly limit grants are paced, one per (time to reset ÷ requests available).
 *
 * The clock is the caller's (`now()`), passed into every script, never Redis TIME.
 */

export interface RequestBudgetOptions {
  /** The deployment's key prefix, e.g. 'actionwatch'; see budgetKeys. */
  prefix: string;
  /** Token profile name, default 'default'; each profile is fully independent. */
  profile?: string;
  perMinute: number;
  perHour: number;
  /** Fraction 0..0.9 of each limit kept free for other users of the token. */
  headroom: number;
  /** Millisecond clock, for tests. */
  now?: () => number;
  /**
   * Store at most one observation per this many ms from this process while `ratelimit-remaining`
   * is plentiful (see `observe`). Default 0: store every observation.
   */
  observeEveryMs?: number;
}

export type BudgetDecision =
  | { granted: true }
  | { granted: false; waitMs: number; reason: 'minute' | 'hour' | 'paused' | 'remaining' };

export type BudgetDenialReason = Extract<BudgetDecision, { granted: false }>['reason'];

export interface BudgetUsage {
  profile: string;
  /** Requests counted in the last 60 s, and the effective per-minute limit. */
  minute: { used: number; limit: number };
  /** Requests counted in the last 3600 s, and the effective per-hour limit. */
  hour: { used: number; limit: number };
  /** Last `ratelimit-remaining` seen (stale or not), or null if none. */
  lastRemaining: number | null;
  /** Last `ratelimit-reset` seen, in ms, or null. */
  lastResetAtMs: number | null;
  /** When that observation was stored, in ms, or null. */
  lastObservedAtMs: number | null;
  /** Requests granted since that observation. */
  grantedSinceObservation: number;
  /** lastRemaining − grantedSinceObservation while the observation is fresh (before its reset), else null. */
  estimatedRemaining: number | null;
  /** End of the pause after a 429 in ms, or 0 if not paused now. */
  pausedUntil: number;
  pauseReason: string | null;
}

/** `acquire()` waits at most this long unless told otherwise. */
export const DEFAULT_MAX_WAIT_MS = 10_000;

/** Below this fraction of the hourly limit left (by `ratelimit-remaining`), grants are paced. */
export const PACE_BELOW_FRACTION = 0.2;

/**
 * With `observeEveryMs`, remaining counts as plentiful this far (as a fraction of the hourly limit)
 * above the highest level the budget acts on: the headroom share (denial) or the pacing threshold.
 */
export const PLENTY_MARGIN_FRACTION = 0.25;

export interface BudgetKeys {
  minute: string;
  hour: string;
  state: string;
}

/**
 * The keys of one profile's budget, which every budget script (acquire-request.lua takes all
 * three) and `usage()`'s MULTI touch: under the profile's prefix, so they share its slot.
 */
export function budgetKeys(prefix: string, profile: string): BudgetKeys {
  const base = `${profilePrefix(prefix, profile)}:budget:${profile}`;
  return { minute: `${base}:minute`, hour: `${base}:hour`, state: `${base}:state` };
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

const ACQUIRE = new LuaScript(import.meta.url, 'acquire-request', 3);
const OBSERVE = new LuaScript(import.meta.url, 'observe-rate-limit', 1);
const PAUSE = new LuaScript(import.meta.url, 'pause-requests', 1);

/** floor(limit × (1 − headroom)), at least 1; the epsilon keeps 100 × (1 − 0.9) from flooring to 9. */
function effectiveLimit(limit: number, headroom: number): number {
  return Math.max(1, Math.floor(limit * (1 - headroom) + 1e-9));
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`RequestBudget: ${name} must be a whole number ≥ 1 (got ${value})`);
  }
  return value;
}

function numberOrNull(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

export class RequestBudget implements RequestGate {
  readonly profile: string;
  readonly minuteLimit: number;
  readonly hourLimit: number;
  private readonly headroom: number;
  private readonly perHour: number;
  private readonly clock: () => number;
  private readonly keys: BudgetKeys;
  private readonly observeEveryMs: number;
  /** What this process last stored by `observe`, for `observeEveryMs`. */
  private lastObservation: { atMs: number; remaining: number; resetAtMs: number; limit: number } | undefined;

  constructor(
    private readonly redis: Redis,
    options: RequestBudgetOptions,
  ) {
    if (options.prefix === '') throw new RangeError('RequestBudget: prefix must not be empty');
    const profile = options.profile ?? 'default';
    if (profile === '') throw new RangeError('RequestBudget: profile must not be empty');
    if (!(options.headroom >= 0 && options.headroom <= 0.9)) {
      throw new RangeError(`RequestBudget: headroom must be from 0 to 0.9 (got ${options.headroom})`);
    }
    const perMinute = positiveInteger('perMinute', options.perMinute);
    this.perHour = positiveInteger('perHour', options.perHour);
    this.profile = profile;
    this.headroom = options.headroom;
    this.minuteLimit = effectiveLimit(perMinute, options.headroom);
    this.hourLimit = effectiveLimit(this.perHour, options.headroom);
    this.clock = options.now ?? Date.now;
    this.observeEveryMs = Math.max(0, options.observeEveryMs ?? 0);
    this.keys = budgetKeys(options.prefix, profile);
  }

  private now(): number {
    return Math.floor(this.clock());
  }

  /** Atomically count one API request if allowed now. */
  async tryAcquire(): Promise<BudgetDecision> {
    const { minute, hour, state } = this.keys;
    const reply = (await ACQUIRE.run(
      this.redis,
      [minute, hour, state],
      [this.now(), this.minuteLimit, this.hourLimit, this.headroom, PACE_BELOW_FRACTION],
    )) as [number, number?, string?];
    if (reply[0] === 1) return { granted: true };
    return {
      granted: false,
      waitMs: Math.max(1, Number(reply[1])),
      reason: reply[2] as BudgetDenialReason,
    };
  }

  /**
   * Waits (sleeping, abortable by `signal`) up to `maxWaitMs` (default 10 s) in total for a grant.
   * If the budget says the wait would be longer, throws BudgetExhaustedError(waitMs, reason) at once,
   * without counting a request. An aborted signal rejects with `signal.reason`.
   */
  async acquire(options: { maxWaitMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const { maxWaitMs = DEFAULT_MAX_WAIT_MS, signal } = options;
    let budgetMs = maxWaitMs;
    for (;;) {
      signal?.throwIfAborted();
      const decision = await this.tryAcquire();
      if (decision.granted) return;
      if (decision.waitMs > budgetMs) throw new BudgetExhaustedError(decision.waitMs, decision.reason);
      await sleep(decision.waitMs, signal);
      budgetMs -= decision.waitMs;
    }
  }

  /**
   * Feed every DigitalOcean response's parsed headers. Needs `remaining` and `resetAtMs`; `limit`
   * defaults to the configured per-hour limit. Stale snapshots (reset already passed) are ignored.
   *
   * With `observeEveryMs`, an observation is not stored (no Redis call) when this process stored
   * one less than that long ago, that one is still fresh, the limit is the same, and both say
   * remaining is plentiful: at least PLENTY_MARGIN_FRACTION of the hourly limit above the headroom
   * share and the pacing threshold. The stored observation then stands, with the requests granted
   * since counted against it, so nothing the budget decides changes; once remaining comes near
   * what the budget acts on, every observation is stored again.
   */
  async observe(snapshot: RateLimitSnapshot): Promise<void> {
    const { remaining, resetAtMs } = snapshot;
    if (remaining === undefined || resetAtMs === undefined) return;
    const limit = snapshot.limit !== undefined && snapshot.limit > 0 ? snapshot.limit : this.perHour;
    const now = this.now();
    if (this.isQuietObservation(remaining, limit, now)) return;
    const observation = { atMs: now, remaining, resetAtMs, limit };
    this.lastObservation = observation;
    try {
      await OBSERVE.run(
        this.redis,
        [this.keys.state],
        [now, Math.floor(remaining), Math.ceil(resetAtMs), limit],
      );
    } catch (error) {
      if (this.lastObservation === observation) this.lastObservation = undefined;
      throw error;
    }
  }

  /** True when `observe` may leave this observation out (see `observeEveryMs`). */
  private isQuietObservation(remaining: number, limit: number, now: number): boolean {
    const last = this.lastObservation;
    if (this.observeEveryMs === 0 || last === undefined) return false;
    const plenty = limit * (Math.max(this.headroom, PACE_BELOW_FRACTION) + PLENTY_MARGIN_FRACTION);
    return (
      now - last.atMs < this.observeEveryMs &&
      now >= last.atMs &&
      last.resetAtMs > now &&
      last.limit === limit &&
      last.remaining >= plenty &&
      remaining >= plenty
    );
  }

  /** After a 429: nobody using this profile sends anything until now + ms (max with any existing pause). */
  async pauseFor(ms: number, reason: string): Promise<void> {
    if (!(ms > 0)) return;
    await PAUSE.run(this.redis, [this.keys.state], [this.now(), Math.ceil(ms), reason]);
  }

  /** Current state for logs and metrics. Read-only. */
  async usage(): Promise<BudgetUsage> {
    const now = this.now();
    const { minute, hour, state } = this.keys;
    const replies = await this.redis
      .multi()
      .zcount(minute, `(${now - MINUTE_MS}`, '+inf')
      .zcount(hour, `(${now - HOUR_MS}`, '+inf')
      .hmget(state, 'remaining', 'resetAt', 'observedAt', 'spent', 'pausedUntil', 'pauseReason')
      .exec();
    if (replies === null) throw new Error('RequestBudget.usage: transaction aborted');
    for (const [error] of replies) if (error) throw error;
    const [minuteUsed, hourUsed, fields] = replies.map(([, value]) => value) as [
      number,
      number,
      (string | null)[],
    ];
    const [remaining, resetAt, observedAt, spent, pausedUntil, pauseReason] = fields;
    const lastRemaining = numberOrNull(remaining);
    const lastResetAtMs = numberOrNull(resetAt);
    const granted = numberOrNull(spent) ?? 0;
    const paused = numberOrNull(pausedUntil) ?? 0;
    return {
      profile: this.profile,
      minute: { used: minuteUsed, limit: this.minuteLimit },
      hour: { used: hourUsed, limit: this.hourLimit },
      lastRemaining,
      lastResetAtMs,
      lastObservedAtMs: numberOrNull(observedAt),
      grantedSinceObservation: granted,
      estimatedRemaining:
        lastRemaining !== null && lastResetAtMs !== null && lastResetAtMs > now
          ? lastRemaining - granted
          : null,
      pausedUntil: paused > now ? paused : 0,
      pauseReason: paused > now ? (pauseReason ?? null) : null,
    };
  }
}
