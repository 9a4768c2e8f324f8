import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BudgetDecision,
  RequestBudget,
  type RequestBudgetOptions,
} from '../src/digitalocean/request-budget.js';
import { BudgetExhaustedError } from '../src/errors/budget-exhausted-error.js';
import { createRedis, deleteKeysWithPrefix, type Redis } from '../src/support/redis.js';
import { REDIS_TARGET } from './support/stack.js';

const PREFIX = `awtest-budget-${process.pid}-${Date.now()}`;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

let redis: Redis;
let redis2: Redis;
let profileCounter = 0;

/** A fresh profile per test, so tests never see each other's state. */
function nextProfile(): string {
  profileCounter += 1;
  return `p${profileCounter}`;
}

class FakeClock {
  constructor(public t = T0) {}
  readonly now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

function budget(
  options: Partial<RequestBudgetOptions> & { clock?: FakeClock; connection?: Redis } = {},
): RequestBudget {
  const { clock, connection, ...rest } = options;
  return new RequestBudget(connection ?? redis, {
    prefix: PREFIX,
    perMinute: 100,
    perHour: 1000,
    headroom: 0,
    ...rest,
    profile: rest.profile ?? nextProfile(),
    ...(clock ? { now: clock.now } : {}),
  });
}

async function grantCount(b: RequestBudget, attempts: number): Promise<number> {
  const decisions = await Promise.all(Array.from({ length: attempts }, () => b.tryAcquire()));
  return decisions.filter((d) => d.granted).length;
}

async function grantN(b: RequestBudget, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect(await b.tryAcquire()).toEqual({ granted: true });
}

beforeAll(async () => {
  redis = createRedis(REDIS_TARGET);
  redis2 = createRedis(REDIS_TARGET);
  await Promise.all([redis.ping(), redis2.ping()]);
});

afterAll(async () => {
  await deleteKeysWithPrefix(redis, PREFIX);
  await Promise.all([redis.quit(), redis2.quit()]);
});

describe('sliding windows', () => {
  it('grants up to the per-minute limit, then denies with the exact wait; the window slides', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 3 });
    await grantN(b, 1);
    clock.advance(1000);
    await grantN(b, 1);
    clock.advance(1000);
    await grantN(b, 1);
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: MINUTE - 2000, reason: 'minute' });

    clock.t = T0 + MINUTE - 1;
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'minute' });
    clock.t = T0 + MINUTE; // the first request leaves the window
    expect(await b.tryAcquire()).toEqual({ granted: true });
    // Next to leave: the one made at T0 + 1000.
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 1000, reason: 'minute' });

    const usage = await b.usage();
    expect(usage.minute).toEqual({ used: 3, limit: 3 });
    expect(usage.hour).toEqual({ used: 4, limit: 1000 });
  });

  it('applies the hour limit the same way', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 100, perHour: 3 });
    await grantN(b, 1);
    clock.advance(10 * MINUTE);
    await grantN(b, 1);
    clock.advance(10 * MINUTE);
    await grantN(b, 1);
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: HOUR - 20 * MINUTE, reason: 'hour' });

    clock.t = T0 + HOUR - 1;
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'hour' });
    clock.t = T0 + HOUR;
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 10 * MINUTE, reason: 'hour' });
    expect((await b.usage()).hour).toEqual({ used: 3, limit: 3 });
  });

  it('reports the longest wait when both windows are full', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 2, perHour: 2 });
    await grantN(b, 2);
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: HOUR, reason: 'hour' });
  });

  it('waits exactly when the window holds more than this instance allows (limits changed)', async () => {
    const clock = new FakeClock();
    const profile = nextProfile();
    const old = budget({ clock, profile, perMinute: 5 });
    for (let i = 0; i < 5; i++) {
      await grantN(old, 1);
      clock.advance(1000);
    }
    // Now T0 + 5000 with grants at T0 … T0 + 4000. A grant needs fewer than 2 counted: four must leave,
    // the fourth (made at T0 + 3000) at T0 + 63000.
    const reduced = budget({ clock, profile, perMinute: 2 });
    expect(await reduced.tryAcquire()).toEqual({ granted: false, waitMs: 58_000, reason: 'minute' });
    clock.t = T0 + MINUTE + 3000 - 1;
    expect(await reduced.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'minute' });
    clock.advance(1);
    expect(await reduced.tryAcquire()).toEqual({ granted: true });
  });

  it('a denied attempt is not counted', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 2 });
    await grantN(b, 2);
    for (let i = 0; i < 5; i++) expect((await b.tryAcquire()).granted).toBe(false);
    expect((await b.usage()).minute.used).toBe(2);
    clock.advance(MINUTE);
    expect(await grantCount(b, 5)).toBe(2);
  });

  it('uses the documented keys and lets them expire', async () => {
    const clock = new FakeClock();
    const profile = nextProfile();
    const b = budget({ clock, profile });
    await grantN(b, 1);
    await b.pauseFor(1000, 'test');
    const base = `${PREFIX}:budget:${profile}`;
    const minuteTtl = await redis.pttl(`${base}:minute`);
    const hourTtl = await redis.pttl(`${base}:hour`);
    const stateTtl = await redis.pttl(`${base}:state`);
    expect(minuteTtl).toBeGreaterThan(0);
    expect(minuteTtl).toBeLessThanOrEqual(MINUTE);
    expect(hourTtl).toBeGreaterThan(MINUTE);
    expect(hourTtl).toBeLessThanOrEqual(HOUR);
    expect(stateTtl).toBeGreaterThan(hourTtl);
    expect(await redis.zcard(`${base}:hour`)).toBe(1);
    const [member] = await redis.zrange(`${base}:hour`, 0, 0);
    expect(member?.length).toBeLessThanOrEqual(8);
  });
});

describe('headroom', () => {
  it('reduces both limits to floor(limit × (1 − headroom)), at least 1', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 10, perHour: 20, headroom: 0.3 });
    expect(b.minuteLimit).toBe(7);
    expect(b.hourLimit).toBe(14);
    expect(await grantCount(b, 20)).toBe(7);
    expect(await b.tryAcquire()).toMatchObject({ granted: false, reason: 'minute' });
    clock.advance(MINUTE);
    expect(await grantCount(b, 20)).toBe(7);
    clock.advance(MINUTE);
    expect(await grantCount(b, 20)).toBe(0);
    expect(await b.tryAcquire()).toMatchObject({ granted: false, reason: 'hour' });

    expect(budget({ perMinute: 100, perHour: 100, headroom: 0.9 }).minuteLimit).toBe(10);
    expect(budget({ perMinute: 1, perHour: 5, headroom: 0.9 }).minuteLimit).toBe(1);
    expect(budget({ perMinute: 1, perHour: 5, headroom: 0.9 }).hourLimit).toBe(1);
  });

  it('rejects invalid options', () => {
    expect(() => budget({ headroom: 0.95 })).toThrow(RangeError);
    expect(() => budget({ headroom: -0.1 })).toThrow(RangeError);
    expect(() => budget({ perMinute: 0 })).toThrow(RangeError);
    expect(() => budget({ perHour: 1.5 })).toThrow(RangeError);
  });
});

describe('two workers on separate connections', () => {
  it('share one budget: grants never exceed the limits in any window', async () => {
    const clock = new FakeClock();
    const profile = nextProfile();
    const perMinute = 25;
    const perHour = 60;
    const a = budget({ clock, profile, perMinute, perHour, connection: redis });
    const b = budget({ clock, profile, perMinute, perHour, connection: redis2 });

    const grants: number[] = [];
    for (let step = 0; step < 40; step++) {
      const at = clock.t;
      const decisions: BudgetDecision[] = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).tryAcquire()),
      );
      for (const d of decisions) if (d.granted) grants.push(at);
      if (step === 0) expect(grants).toHaveLength(perMinute);
      clock.advance(7_000);
    }

    // 40 steps of 7 s span 273 s: less than an hour, so exactly the hour limit was granted.
    expect(grants).toHaveLength(perHour);
    for (const t of grants) {
      expect(grants.filter((u) => u > t - MINUTE && u <= t).length).toBeLessThanOrEqual(perMinute);
    }
    const usage = await a.usage();
    expect(usage.hour.used).toBe(perHour);
  });
});

describe('pauseFor', () => {
  it('denies everyone with reason paused until the pause ends; the longer pause wins', async () => {
    const clock = new FakeClock();
    const profile = nextProfile();
    const a = budget({ clock, profile, connection: redis });
    const b = budget({ clock, profile, connection: redis2 });

    await a.pauseFor(5000, '429 from droplet actions');
    expect(await a.tryAcquire()).toEqual({ granted: false, waitMs: 5000, reason: 'paused' });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 5000, reason: 'paused' });
    expect(await b.usage()).toMatchObject({
      pausedUntil: T0 + 5000,
      pauseReason: '429 from droplet actions',
      minute: { used: 0 },
    });

    await b.pauseFor(1000, 'shorter'); // does not shorten the pause
    clock.advance(1000);
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 4000, reason: 'paused' });

    await b.pauseFor(10_000, 'longer'); // extends it
    expect(await a.tryAcquire()).toEqual({ granted: false, waitMs: 10_000, reason: 'paused' });
    expect((await a.usage()).pauseReason).toBe('longer');

    clock.advance(9_999);
    expect(await a.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'paused' });
    clock.advance(1);
    expect(await a.tryAcquire()).toEqual({ granted: true });
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await a.usage()).toMatchObject({ pausedUntil: 0, pauseReason: null });
  });
});

describe('observe (ratelimit-remaining)', () => {
  it('denies until the reset when remaining is at or below the headroom share', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 5000, headroom: 0.1 });
    const resetAtMs = T0 + 30_000;
    await b.observe({ limit: 5000, remaining: 500, resetAtMs });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 30_000, reason: 'remaining' });
    clock.advance(29_999);
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'remaining' });
    clock.advance(1); // the observation is now stale and ignored
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.usage()).toMatchObject({
      lastRemaining: 500,
      grantedSinceObservation: 0,
      estimatedRemaining: null,
    });
  });

  it('counts requests granted since the observation against it', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 5000, headroom: 0.1 });
    const resetAtMs = T0 + 40_000;
    await b.observe({ limit: 5000, remaining: 501, resetAtMs }); // one above the 500 kept free
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 40_000, reason: 'remaining' });
    expect(await b.usage()).toMatchObject({
      lastRemaining: 501,
      grantedSinceObservation: 1,
      estimatedRemaining: 500,
    });

    // A fresh observation replaces it and restarts the count.
    clock.advance(1000);
    await b.observe({ limit: 5000, remaining: 900, resetAtMs });
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect((await b.usage()).grantedSinceObservation).toBe(1);
  });

  it('uses the configured hourly limit when the snapshot has none', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 1000, headroom: 0.5 });
    // Keeps 500 of 1000 free, and 600 is not low (20 % of 1000 is 200): no pacing.
    await b.observe({ remaining: 600, resetAtMs: T0 + 5000 });
    expect(await grantCount(b, 5)).toBe(5);
    await b.observe({ remaining: 500, resetAtMs: T0 + 5000 });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 5000, reason: 'remaining' });
  });

  it('paces grants when remaining is low, shared by all workers', async () => {
    const clock = new FakeClock();
    const profile = nextProfile();
    const a = budget({ clock, profile, perMinute: 250, perHour: 5000, connection: redis });
    const b = budget({ clock, profile, perMinute: 250, perHour: 5000, connection: redis2 });
    const resetAtMs = T0 + 100_000;
    await a.observe({ limit: 5000, remaining: 30, resetAtMs }); // below 20 % of 5000

    // Many concurrent attempts at one instant: only one goes.
    const decisions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).tryAcquire()),
    );
    expect(decisions.filter((d) => d.granted)).toHaveLength(1);

    // 29 left over the 100 s to reset: one every ceil(100000 / 29) ms.
    let last = T0;
    let left = 29;
    for (let i = 0; i < 3; i++) {
      const spacing = Math.ceil((resetAtMs - last) / left);
      clock.t = last + spacing - 1;
      expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'remaining' });
      clock.t = last + spacing;
      expect(await a.tryAcquire()).toEqual({ granted: true });
      last = clock.t;
      left -= 1;
    }
    expect(await a.tryAcquire()).toEqual({
      granted: false,
      waitMs: Math.ceil((resetAtMs - last) / left),
      reason: 'remaining',
    });
  });

  it('spreads the last few evenly up to the reset', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 5000 });
    const resetAtMs = T0 + 90_000;
    await b.observe({ limit: 5000, remaining: 3, resetAtMs });
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 45_000, reason: 'remaining' });
    clock.advance(45_000);
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 45_000, reason: 'remaining' });
    clock.advance(45_000 - 1);
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 1, reason: 'remaining' });
    clock.advance(1);
    // At the reset the observation is stale; the local windows alone decide again.
    expect(await b.tryAcquire()).toEqual({ granted: true });
  });

  it('does not pace while remaining is plentiful', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 50, perHour: 5000, headroom: 0.1 });
    await b.observe({ limit: 5000, remaining: 4000, resetAtMs: T0 + 60_000 });
    expect(await grantCount(b, 60)).toBe(45);
    expect(await b.tryAcquire()).toMatchObject({ granted: false, reason: 'minute' });
  });

  it('ignores a stale observation and one without remaining or reset', async () => {
    const clock = new FakeClock();
    const b = budget({ clock });
    await b.observe({ limit: 5000, remaining: 0, resetAtMs: T0 }); // reset already passed
    await b.observe({ limit: 5000, remaining: 0, resetAtMs: T0 - 1000 });
    await b.observe({ limit: 5000, remaining: 0 });
    await b.observe({ limit: 5000, resetAtMs: T0 + 1000 });
    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect((await b.usage()).lastRemaining).toBeNull();
  });

  it('ignores an observation older than the stored one (a lagging clock)', async () => {
    const clock = new FakeClock();
    const profile = nextProfile();
    const ahead = budget({ clock, profile });
    const behind = budget({ profile, now: () => clock.t - 5000 });
    await ahead.observe({ limit: 5000, remaining: 0, resetAtMs: T0 + 10_000 });
    await behind.observe({ limit: 5000, remaining: 4000, resetAtMs: T0 + 10_000 });
    expect(await ahead.tryAcquire()).toEqual({ granted: false, waitMs: 10_000, reason: 'remaining' });
  });
});

describe('observe with observeEveryMs (fewer Redis writes while remaining is plentiful)', () => {
  it('leaves out repeats within the interval while plentiful; the stored one and the grants since stand', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 5000, headroom: 0.1, observeEveryMs: 1000 });
    const resetAtMs = T0 + 60_000;
    await b.observe({ limit: 5000, remaining: 4000, resetAtMs });
    await grantN(b, 2);
    clock.advance(500);
    await b.observe({ limit: 5000, remaining: 3990, resetAtMs });
    expect(await b.usage()).toMatchObject({
      lastRemaining: 4000,
      grantedSinceObservation: 2,
      estimatedRemaining: 3998,
    });
    // Once the interval has passed, the next one is stored.
    clock.advance(500);
    await b.observe({ limit: 5000, remaining: 3980, resetAtMs });
    expect(await b.usage()).toMatchObject({ lastRemaining: 3980, grantedSinceObservation: 0 });
  });

  it('stores every observation near the headroom share or the pacing level, so denial and pacing are as without it', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 5000, headroom: 0.1, observeEveryMs: 1000 });
    const resetAtMs = T0 + 30_000;
    // Plenty is 5000 × (max(0.1, 0.2) + 0.25) = 2250: a drop below it is stored at once.
    await b.observe({ limit: 5000, remaining: 4000, resetAtMs });
    clock.advance(10);
    await b.observe({ limit: 5000, remaining: 2249, resetAtMs });
    expect((await b.usage()).lastRemaining).toBe(2249);
    clock.advance(10);
    await b.observe({ limit: 5000, remaining: 500, resetAtMs });
    expect(await b.tryAcquire()).toEqual({ granted: false, waitMs: 29_980, reason: 'remaining' });
  });

  it('stores the next one at once when the stored one went stale or the limit changed', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 250, perHour: 5000, headroom: 0.1, observeEveryMs: 1000 });
    await b.observe({ limit: 5000, remaining: 4000, resetAtMs: T0 + 100 });
    clock.advance(200); // its reset has passed
    await b.observe({ limit: 5000, remaining: 4500, resetAtMs: T0 + 60_000 });
    expect((await b.usage()).lastRemaining).toBe(4500);
    clock.advance(10);
    await b.observe({ limit: 10_000, remaining: 9000, resetAtMs: T0 + 60_000 });
    expect((await b.usage()).lastRemaining).toBe(9000);
  });
});

describe('profiles', () => {
  it('are fully independent', async () => {
    const clock = new FakeClock();
    const a = budget({ clock, profile: nextProfile(), perMinute: 1 });
    const b = budget({ clock, profile: nextProfile(), perMinute: 1 });
    const c = budget({ clock, profile: nextProfile(), perMinute: 1 });
    const d = budget({ clock, profile: nextProfile(), perMinute: 1 });
    await grantN(a, 1);
    expect(await a.tryAcquire()).toMatchObject({ granted: false, reason: 'minute' });
    await a.pauseFor(10_000, '429');
    await a.observe({ limit: 5000, remaining: 0, resetAtMs: T0 + 10_000 });

    expect(await b.tryAcquire()).toEqual({ granted: true });
    expect(await b.usage()).toMatchObject({ pausedUntil: 0, lastRemaining: null });

    await c.pauseFor(10_000, '429');
    expect(await c.tryAcquire()).toMatchObject({ granted: false, reason: 'paused' });
    expect(await d.tryAcquire()).toEqual({ granted: true });
  });

  it('default to the profile named default', async () => {
    const clock = new FakeClock();
    const b = new RequestBudget(redis, {
      prefix: PREFIX,
      perMinute: 1,
      perHour: 10,
      headroom: 0,
      now: clock.now,
    });
    expect(b.profile).toBe('default');
    await grantN(b, 1);
    expect(await redis.zcard(`${PREFIX}:budget:default:minute`)).toBe(1);
  });
});

describe('acquire', () => {
  it('waits for a short wait and succeeds', async () => {
    let offset = -(MINUTE - 200);
    const b = budget({ perMinute: 2, now: () => Date.now() + offset });
    await grantN(b, 2);
    offset = 0; // the two grants now leave the window in ~200 ms of real time
    const started = Date.now();
    await b.acquire({ maxWaitMs: 2000 });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(150);
    expect(waited).toBeLessThan(1500);
    expect((await b.usage()).minute.used).toBe(1);
  });

  it('resolves at once when a grant is available', async () => {
    const b = budget({ perMinute: 2 });
    const started = Date.now();
    await b.acquire({ maxWaitMs: 0 });
    expect(Date.now() - started).toBeLessThan(500);
    expect((await b.usage()).minute.used).toBe(1);
  });

  it('throws BudgetExhaustedError for a longer wait, without counting', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 1 });
    await grantN(b, 1);
    clock.advance(1000);
    const started = Date.now();
    const error = await b.acquire({ maxWaitMs: 5000 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(500);
    expect(error).toBeInstanceOf(BudgetExhaustedError);
    expect(error).toMatchObject({ waitMs: MINUTE - 1000, reason: 'minute' });
    expect((await b.usage()).minute.used).toBe(1);

    await b.pauseFor(HOUR, '429');
    await expect(b.acquire()).rejects.toMatchObject({ name: 'BudgetExhaustedError', reason: 'paused' });
  });

  it('honours an AbortSignal while waiting, and an already aborted one', async () => {
    const clock = new FakeClock();
    const b = budget({ clock, perMinute: 1 });
    await b.pauseFor(5000, '429');
    const controller = new AbortController();
    const reason = new Error('shutting down');
    setTimeout(() => controller.abort(reason), 100);
    const started = Date.now();
    await expect(b.acquire({ maxWaitMs: 10_000, signal: controller.signal })).rejects.toBe(reason);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(80);
    expect(waited).toBeLessThan(2000);

    clock.advance(5000);
    await expect(b.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect((await b.usage()).minute.used).toBe(0);
  });
});
