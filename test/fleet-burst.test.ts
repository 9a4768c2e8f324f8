import { afterEach, describe, expect, it } from 'vitest';
import { CompressedClock, CompressedRuntime } from '../bench/fleet/compressed-time.js';
import { loadConfig } from '../src/config/config.js';
import type { SweepReport } from '../src/fleet/sweeper.js';
import { Simulator } from '../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { eventsKey } from '../src/watches/keys.js';
import { watchIdOf } from '../src/watches/watch-ref.js';
import { LogCapture, REDIS_ENV, REDIS_TARGET, SIM_TOKEN, testPrefix, until } from './support/stack.js';

const FACTOR = 6;

describe('a burst at DigitalOcean’s real limits (time compressed 6×)', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('600 actions ending 20–80 s after they start, two batched workers: every outcome right, at burst pace, no 429', async () => {
    const clock = new CompressedClock(Date.now(), FACTOR);
    const simulator = await Simulator.start({
      tokens: [SIM_TOKEN],
      rateLimit: { perMinute: 250, perHour: 5000 },
      now: clock.now,
    });
    closers.push(() => simulator.close());
    const prefix = testPrefix('fleet-burst');
    const redis = createRedis(REDIS_TARGET);
    closers.push(async () => {
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
    });
    const config = loadConfig({
      ...REDIS_ENV,
      DIGITALOCEAN_API_URL: simulator.url,
      DIGITALOCEAN_TOKEN: SIM_TOKEN,
      ACTIONWATCH_PREFIX: prefix,
      OBSERVE_MODE: 'batched',
      RATE_LIMIT_PER_MINUTE: '250',
      RATE_LIMIT_PER_HOUR: '5000',
      POLL_MIN_INTERVAL: `${Math.round(2000 / FACTOR)}ms`,
      POLL_MAX_INTERVAL: `${Math.round(60_000 / FACTOR)}ms`,
    });
    const logs = new LogCapture();
    const workers = [0, 1].map(() => new CompressedRuntime(config, logs.logger, clock));
    for (const worker of workers) closers.push(() => worker.close());
    const rounds: SweepReport[] = [];
    for (const worker of workers) {
      await worker.startWorker({ webhooks: false, apiClock: clock.now });
      worker.batching?.on('round', (report) => rounds.push(report));
    }

    const start = clock.now();
    const expected = new Map<number, 'completed' | 'errored'>();
    const refs = Array.from({ length: 600 }, (_, i) => {
      const result = i % 10 === 0 ? 'errored' : 'completed';
      const action = simulator.createAction({
        kind: 'droplet',
        resourceId: 10_000 + i,
        type: 'reboot',
        durationMs: 20_000 + ((i * 7919) % 60_000),
        result,
        startedAt: start,
      });
      expected.set(action.id, result);
      return { kind: 'droplet' as const, resourceId: 10_000 + i, actionId: action.id };
    });
    await workers[0]?.watches.watchMany(refs);

    // 80 simulated seconds are about 13 s of wall time; the outcomes follow within seconds.
    await until(
      async () => ((await redis.xlen(eventsKey(prefix))) >= refs.length ? true : undefined),
      60_000,
    );
    for (const ref of refs) {
      const outcome = await workers[0]?.waitForOutcome(watchIdOf(ref), {
        timeoutMs: 1_000,
      });
      expect(outcome?.outcome).toBe(expected.get(ref.actionId));
    }
    const stats = simulator.stats();
    expect(stats.rateLimited).toBe(0);
    // The sweeps spent the minute's allowance, not the hourly pace, while the hour had room…
    expect(rounds.some((round) => round.pace === 'burst')).toBe(true);
    // …and every round that planned requests knew the bound it was held to: its 3 pages at the pace.
    const planned = rounds.filter((round) => round.passRequests > 0);
    expect(planned.length).toBeGreaterThan(0);
    for (const round of planned) {
      expect(round.boundMs).toBeCloseTo((round.passRequests / round.perMinute) * 60_000, 6);
      expect(Number.isFinite(round.boundMs)).toBe(true);
    }
    expect(stats.totalRequests).toBeLessThan(expected.size);
  }, 90_000);
});
