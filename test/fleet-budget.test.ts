import { afterEach, describe, expect, it } from 'vitest';
import { fleetKeys } from '../src/fleet/fleet-keys.js';
import type { Runtime } from '../src/runtime.js';
import { type Stack, startStack, until } from './support/stack.js';

/** Sweeper rounds and short rounds of every batched runtime (whichever holds the lease sweeps). */
function fleetTotals(runtimes: readonly Runtime[]) {
  let rounds = 0;
  let shortRounds = 0;
  for (const runtime of runtimes) {
    rounds += runtime.batching?.totals.rounds ?? 0;
    shortRounds += runtime.batching?.totals.shortRounds ?? 0;
  }
  return { rounds, shortRounds };
}

function dropletWatches(stack: Stack, count: number, firstResourceId: number) {
  return Array.from({ length: count }, (_, i) => {
    const resourceId = firstResourceId + i;
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId, durationMs: 60_000 });
    return { kind: 'droplet' as const, resourceId, actionId: action.id };
  });
}

describe('one request budget shared by every worker (real Redis, simulator at DigitalOcean’s limits)', () => {
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('three workers, batched and direct, stay under 250/min with no 429 while the demand far exceeds it', async () => {
    stack = await startStack({
      name: 'fleet-budget',
      simulator: { rateLimit: { perMinute: 250, perHour: 5000 } },
      env: { OBSERVE_MODE: 'batched' },
    });
    const { simulator, runtime } = stack;
    // 400 watches of actions running for a minute, each on a droplet of its own: one GET per poll
    // every 200 ms would be 2,000 requests a second.
    await runtime.watches.watchMany(dropletWatches(stack, 400, 1_000));
    // Two batched workers first, until their sweeper has planned a round: the watches it looks
    // after stay due to it, round after round, whatever the other workers do with the queue.
    const batched = [runtime, stack.another({ OBSERVE_MODE: 'batched' })];
    for (const each of batched) await each.startWorker({ concurrency: 20 });
    await until(() => (fleetTotals(batched).rounds >= 1 ? true : undefined), 20_000);
    // Then a worker polling directly, which spends the rest of the budget's minute (250 less 10 %
    // headroom) within a second, is refused, and pauses the queue until the minute frees.
    const direct = await stack.another({ OBSERVE_MODE: 'direct' }).startWorker({ concurrency: 20 });
    const paused = new Promise<{ waitMs: number }>((resolve) => direct.once('paused', resolve));
    await until(async () => ((await runtime.budget().usage()).minute.used >= 225 ? true : undefined), 20_000);
    const { waitMs } = await paused;
    const minuteFreesAt = Date.now() + waitMs;
    // Ten more sweeper rounds planned against the spent budget (or, should the sweeper have
    // nothing due, the minute about to free: until then nothing may be sent either)…
    const roundsAtLimit = fleetTotals(batched).rounds;
    await until(
      () =>
        fleetTotals(batched).rounds >= roundsAtLimit + 10 || Date.now() >= minuteFreesAt - 2_000
          ? true
          : undefined,
      90_000,
    );
    const stats = simulator.stats();
    // …and nothing more has been sent: no process of the three oversteps it, so DigitalOcean never says 429.
    expect(stats.rateLimited).toBe(0);
    expect(stats.totalRequests).toBeLessThanOrEqual(225);
    expect((await runtime.budget().usage()).minute.used).toBe(stats.totalRequests);
  }, 150_000);

  it('watches that arrive while the minute is spent are held by the planner, which says so and sends nothing', async () => {
    stack = await startStack({
      name: 'fleet-budget-held',
      simulator: { rateLimit: { perMinute: 250, perHour: 5000 } },
      env: { OBSERVE_MODE: 'batched' },
    });
    const { simulator, runtime } = stack;
    await runtime.startWorker({ concurrency: 20 });
    // The sweeper is up and tells watches to wait for it…
    const healthy = fleetKeys(stack.prefix, 'default').healthy;
    await until(async () => ((await runtime.redis.exists(healthy)) === 1 ? true : undefined), 10_000);
    // …when another user of the token (a `run`, another tool) spends the minute, less its headroom.
    const budget = runtime.budget();
    for (let i = 0; i < 225; i++) await budget.acquire({ maxWaitMs: 0 });
    await expect(budget.acquire({ maxWaitMs: 0 })).rejects.toThrow();

    await runtime.watches.watchMany(dropletWatches(stack, 50, 2_000));
    const short = await until(
      () => stack.logs.find((line) => String(line.msg).startsWith('request budget short'))[0],
      20_000,
    );
    // Held for want of budget, every one of them: none could be observed, and none was asked for.
    expect(short).toMatchObject({ profile: 'default', held: expect.any(Number) });
    expect(short?.held).toBeGreaterThan(0);
    expect(short?.held).toBe(short?.due);
    expect(fleetTotals([runtime]).shortRounds).toBeGreaterThan(0);
    expect(simulator.stats().totalRequests).toBe(0);
  }, 60_000);
});
