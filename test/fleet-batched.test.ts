import { afterEach, describe, expect, it } from 'vitest';
import type { ResourceKind } from '../src/digitalocean/models.js';
import type { Simulator } from '../src/simulator/simulator.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { type Stack, startStack, until } from './support/stack.js';

const BATCHED = { OBSERVE_MODE: 'batched' };
const GET_DROPLET_ACTION = 'GET /v2/droplets/:droplet_id/actions/:action_id';
const GET_IMAGE_ACTION = 'GET /v2/images/:image_id/actions/:action_id';
const LIST_ACTIONS = 'GET /v2/actions';

/** Finished actions on other resources, older than anything a test watches: the account's past. */
function seedHistory(simulator: Simulator, count: number, firstResource = 900_000): void {
  for (let i = 0; i < count; i++) {
    simulator.createAction({
      kind: 'droplet',
      resourceId: firstResource + i,
      durationMs: 0,
      startedAt: Date.now() - 60_000,
    });
  }
}

interface Started {
  ref: { kind: ResourceKind; resourceId: number; actionId: number };
  result: 'completed' | 'errored';
}

function startActions(simulator: Simulator, count: number, firstResource: number): Started[] {
  return Array.from({ length: count }, (_, i) => {
    const kind: ResourceKind = i % 2 === 0 ? 'droplet' : 'image';
    const result = i % 7 === 3 ? 'errored' : 'completed';
    const action = simulator.createAction({
      kind,
      resourceId: firstResource + i,
      durationMs: 400 + ((i * 97) % 1600),
      result,
    });
    return { ref: { kind, resourceId: firstResource + i, actionId: action.id }, result };
  });
}

function gets(simulator: Simulator): number {
  const routes = simulator.stats().byRoute;
  return (routes[GET_DROPLET_ACTION] ?? 0) + (routes[GET_IMAGE_ACTION] ?? 0);
}

describe('batched observation (real Redis, simulator over HTTP)', () => {
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  for (const listOrder of ['oldest-first', 'newest-first'] as const) {
    it(`${listOrder}: resolves every watch right from shared list pages while other actions keep arriving`, async () => {
      stack = await startStack({
        name: `fleet-${listOrder}`,
        simulator: { listOrder, background: { actionsPerSecond: 100 } },
        env: BATCHED,
      });
      const { simulator, runtime } = stack;
      // The watched actions straddle the first two pages of 200 (in either order) and drift across
      // pages as other actions arrive.
      seedHistory(simulator, 170);
      const started = startActions(simulator, 60, 10_000);
      seedHistory(simulator, 170, 950_000);
      const results = await runtime.watches.watchMany(started.map((s) => s.ref));
      await runtime.startWorker({ concurrency: 10 });
      await stack.another(BATCHED).startWorker({ concurrency: 10 });
      const records = (await Promise.all(
        results.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 20_000 })),
      )) as OutcomeRecord[];
      records.forEach((record, index) => {
        const { ref, result } = started[index] as Started;
        expect(record.outcome).toBe(result);
        expect(record.action).toMatchObject({
          id: ref.actionId,
          status: result,
          resource_id: ref.resourceId,
          resource_type: ref.kind,
          region: expect.objectContaining({ slug: expect.any(String) }),
        });
      });
      const stats = simulator.stats();
      // One GET per poll would have made several hundred requests (polls every 200 ms to 1 s).
      expect(stats.totalRequests).toBeLessThan(started.length);
      expect(stats.byRoute[LIST_ACTIONS]).toBeGreaterThan(0);
      expect(gets(simulator)).toBeLessThan(10);
      expect(simulator.actionCount).toBeGreaterThan(500); // pages really shifted under the sweeps
    });
  }

  it('never resolves a watch from an observation of its action under another resource', async () => {
    stack = await startStack({ name: 'fleet-mismatch', env: BATCHED });
    const { simulator, runtime } = stack;
    const others = startActions(simulator, 6, 20_000);
    const action = simulator.createAction({ kind: 'droplet', resourceId: 5, durationMs: 300 });
    const [right, wrong] = await runtime.watches.watchMany([
      { kind: 'droplet', resourceId: 5, actionId: action.id },
      { kind: 'droplet', resourceId: 6, actionId: action.id },
      ...others.map((s) => s.ref),
    ]);
    await runtime.startWorker({ concurrency: 8 });
    const rightRecord = await runtime.waitForOutcome(right?.watch.id ?? '', { timeoutMs: 15_000 });
    const wrongRecord = await runtime.waitForOutcome(wrong?.watch.id ?? '', { timeoutMs: 15_000 });
    expect(rightRecord?.outcome).toBe('completed');
    expect(simulator.stats().byRoute[LIST_ACTIONS]).toBeGreaterThan(0);
    // The list showed action id on droplet 5; droplet 6's watch asked its own endpoint, which says 404.
    expect(wrongRecord).toMatchObject({ outcome: 'not_found', reason: expect.stringMatching(/404/) });
    expect(simulator.stats().byRoute[GET_DROPLET_ACTION]).toBeGreaterThanOrEqual(1);
  });

  it('resolves an action too old to be on the recent pages by its own GET', async () => {
    stack = await startStack({
      name: 'fleet-old',
      simulator: { listOrder: 'newest-first' },
      env: BATCHED,
    });
    const { simulator, runtime } = stack;
    const old = simulator.createAction({ kind: 'image', resourceId: 42, durationMs: 1_500 });
    seedHistory(simulator, 700);
    const recent = startActions(simulator, 10, 30_000);
    const results = await runtime.watches.watchMany([
      { kind: 'image', resourceId: 42, actionId: old.id },
      ...recent.map((s) => s.ref),
    ]);
    await runtime.startWorker({ concurrency: 8 });
    const records = await Promise.all(
      results.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 15_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(['completed', ...recent.map((s) => s.result)]);
    const routes = simulator.stats().byRoute;
    expect(routes[GET_IMAGE_ACTION]).toBeGreaterThanOrEqual(1);
    expect(routes[LIST_ACTIONS]).toBeGreaterThan(0);
    // It was looked for on no more than a page past the recent ones before it got its own GET.
    expect(routes[LIST_ACTIONS]).toBeLessThan(40);
  });

  it('falls back to each watch’s own GET when the list endpoint fails, and loses nothing', async () => {
    stack = await startStack({ name: 'fleet-listfail', env: BATCHED });
    const { simulator, runtime } = stack;
    simulator.injectFault({
      kind: 'status',
      status: 500,
      path: /^\/v2\/actions$/,
      times: Number.POSITIVE_INFINITY,
    });
    const started = startActions(simulator, 12, 40_000);
    const results = await runtime.watches.watchMany(started.map((s) => s.ref));
    await runtime.startWorker({ concurrency: 8 });
    const records = await Promise.all(
      results.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 15_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(started.map((s) => s.result));
    expect(gets(simulator)).toBeGreaterThanOrEqual(started.length);
    // Lists are given a rest after a failure rather than tried every round.
    expect(simulator.stats().byStatus['500']).toBeLessThan(5);
    expect(
      stack.logs.find((line) => String(line.msg).startsWith('listing actions failed')).length,
    ).toBeGreaterThan(0);
  });

  it('a token refused the listing (403: no actions scope) stops sweeping; watches finish by their own GETs', async () => {
    stack = await startStack({ name: 'fleet-list-refused', env: BATCHED });
    const { simulator, runtime, prefix } = stack;
    simulator.injectFault({
      kind: 'status',
      status: 403,
      path: /^\/v2\/(actions|droplets\/\d+\/actions|images\/\d+\/actions)$/,
      times: Number.POSITIVE_INFINITY,
    });
    const started = startActions(simulator, 8, 45_000);
    const results = await runtime.watches.watchMany(started.map((s) => s.ref));
    await runtime.startWorker({ concurrency: 8 });
    const records = await Promise.all(
      results.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 15_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(started.map((s) => s.result));
    // Refused once, never asked again: no list request after the first refusal.
    expect(simulator.stats().byStatus['403']).toBe(1);
    expect(simulator.stats().byRoute[LIST_ACTIONS] ?? 0).toBeLessThanOrEqual(1);
    const refusals = stack.logs.find((line) => String(line.msg).includes('refused this token a list'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.level).toBe(50);
    expect(runtime.batching?.leading).toEqual([]);
    expect(
      await runtime.redis.exists(`${prefix}:fleet:default:lease`, `${prefix}:fleet:default:healthy`),
    ).toBe(0);
  });

  it('another worker takes the sweep over when the one sweeping stops', async () => {
    stack = await startStack({ name: 'fleet-takeover', env: BATCHED });
    const { simulator, runtime } = stack;
    const later = Array.from({ length: 10 }, (_, i) => {
      const action = simulator.createAction({ kind: 'droplet', resourceId: 60_000 + i, durationMs: 2_500 });
      return { kind: 'droplet' as const, resourceId: 60_000 + i, actionId: action.id };
    });
    const other = stack.another(BATCHED);
    await runtime.startWorker({ concurrency: 4 });
    await other.startWorker({ concurrency: 4 });
    const leader = await until(() =>
      runtime.batching?.leading.includes('default')
        ? runtime
        : other.batching?.leading.includes('default')
          ? other
          : undefined,
    );
    const follower = leader === runtime ? other : runtime;
    const results = await runtime.watches.watchMany(later);
    // Its sweepers stop and give the lease up (a worker that dies instead lets it expire: see the lease test).
    await leader.batching?.close();
    await until(() => follower.batching?.leading.includes('default') || undefined, 10_000);
    const records = await Promise.all(
      results.map(({ watch }) => follower.waitForOutcome(watch.id, { timeoutMs: 15_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(Array(10).fill('completed'));
    expect(simulator.stats().byRoute[LIST_ACTIONS]).toBeGreaterThan(0);
  });
});
