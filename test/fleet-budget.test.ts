import { afterEach, describe, expect, it } from 'vitest';
import { type Stack, startStack, until } from './support/stack.js';

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
    const refs = Array.from({ length: 400 }, (_, i) => {
      const action = simulator.createAction({ kind: 'droplet', resourceId: 1_000 + i, durationMs: 60_000 });
      return { kind: 'droplet' as const, resourceId: 1_000 + i, actionId: action.id };
    });
    await runtime.watches.watchMany(refs);
    // A worker polling directly spends the budget's minute (250 less 10 % headroom) within a second…
    await stack.another({ OBSERVE_MODE: 'direct' }).startWorker({ concurrency: 20 });
    await until(async () => ((await runtime.budget().usage()).minute.used >= 150 ? true : undefined), 20_000);
    // …while two batched workers join in, their planners drawing on the same budget.
    await runtime.startWorker({ concurrency: 20 });
    await stack.another({ OBSERVE_MODE: 'batched' }).startWorker({ concurrency: 20 });
    await until(async () => ((await runtime.budget().usage()).minute.used >= 225 ? true : undefined), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const stats = simulator.stats();
    // …and then nothing more is sent: no process of the three oversteps it, so DigitalOcean never says 429.
    expect(stats.rateLimited).toBe(0);
    expect(stats.totalRequests).toBeLessThanOrEqual(225);
    expect((await runtime.budget().usage()).minute.used).toBe(stats.totalRequests);
    // Watches that arrive while the minute is spent cannot be observed yet (those already seen may
    // simply be scheduled later): the planner holds them back for want of budget, and says so.
    const late = Array.from({ length: 50 }, (_, i) => {
      const action = simulator.createAction({ kind: 'droplet', resourceId: 2_000 + i, durationMs: 60_000 });
      return { kind: 'droplet' as const, resourceId: 2_000 + i, actionId: action.id };
    });
    await runtime.watches.watchMany(late);
    const short = await until(
      () => stack.logs.find((line) => String(line.msg).startsWith('request budget short'))[0],
      30_000,
    );
    expect(short).toMatchObject({ profile: 'default', held: expect.any(Number) });
    expect(runtime.batching?.totals.shortRounds).toBeGreaterThan(0);
    // Each wait above is on a signal; on a loaded machine they add up past the default 30 s.
  }, 90_000);
});
