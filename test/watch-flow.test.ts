import { afterEach, describe, expect, it } from 'vitest';
import { parseWatchId } from '../src/watches/watch-ref.js';
import { type Stack, startStack, until } from './support/stack.js';

/** For tests that count polls as requests: in batched mode, shared sweeps look without polling. */
const DIRECT = { OBSERVE_MODE: 'direct' };

describe('watching actions end to end (real Redis, simulator over HTTP)', () => {
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('follows a droplet action and an image action to completed and errored', async () => {
    // Direct mode, where each look is a poll of the watch's own; batched mode's end-to-end flow
    // (looks made by shared sweeps, not counted as the watch's polls) is in fleet-batched.test.ts.
    stack = await startStack({ name: 'flow', env: DIRECT });
    const { simulator, runtime } = stack;
    const droplet = simulator.createAction({
      kind: 'droplet',
      resourceId: 501,
      type: 'create',
      // Long enough that the first look, even on a loaded machine, finds it still in progress.
      durationMs: 2_000,
    });
    const image = simulator.createAction({
      kind: 'image',
      resourceId: 701,
      type: 'transfer',
      durationMs: 900,
      result: 'errored',
    });
    const [d, i] = await runtime.watches.watchMany([
      { kind: 'droplet', resourceId: 501, actionId: droplet.id },
      { kind: 'image', resourceId: 701, actionId: image.id },
    ]);
    expect(d?.created).toBe(true);
    expect(d?.watch).toMatchObject({
      id: `droplet-501-${droplet.id}`,
      state: 'waiting',
      outcome: null,
      polls: 0,
    });
    await runtime.startWorker({ concurrency: 4 });

    const dropletOutcome = await runtime.waitForOutcome(d?.watch.id ?? '', { timeoutMs: 10_000 });
    const imageOutcome = await runtime.waitForOutcome(i?.watch.id ?? '', { timeoutMs: 10_000 });
    expect(dropletOutcome?.outcome).toBe('completed');
    expect(dropletOutcome?.action).toMatchObject({
      id: droplet.id,
      status: 'completed',
      type: 'create',
      resource_type: 'droplet',
    });
    // The outcome keeps the action as the API returned it, region included.
    expect(dropletOutcome?.action?.region).toMatchObject({ slug: expect.any(String) });
    expect(imageOutcome?.outcome).toBe('errored');
    expect(imageOutcome?.action).toMatchObject({ id: image.id, status: 'errored' });
    expect(dropletOutcome?.watch.polls).toBeGreaterThanOrEqual(2);

    const stored = await runtime.watches.get(d?.watch.id ?? '');
    expect(stored).toMatchObject({ state: 'done', outcome: 'completed', finishedAt: expect.any(String) });

    // errored is logged at warn, with the action's details, for alerting.
    const alert = await until(() => stack.logs.find((line) => line.outcome === 'errored')[0]);
    expect(alert).toMatchObject({ level: 40, alert: true, actionId: image.id });

    // Each outcome is on the events stream exactly once.
    const events = await runtime.redis.xrange(`${stack.prefix}:events`, '-', '+');
    expect(events.map(([, fields]) => fields[1]).sort()).toEqual(['action.completed', 'action.errored']);

    // ...and is the BullMQ job's return value.
    const job = await runtime.watches.queue.getJob(d?.watch.id ?? '');
    await until(async () => (await job?.isCompleted()) || undefined);
    const finished = await runtime.watches.queue.getJob(d?.watch.id ?? '');
    expect(finished?.returnvalue).toMatchObject({ outcome: 'completed', type: 'action.completed' });
  });

  it('joins an existing watch instead of polling an action twice', async () => {
    stack = await startStack({ name: 'dedupe', env: DIRECT });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 9, durationMs: 1500 });
    const ref = { kind: 'droplet' as const, resourceId: 9, actionId: action.id };
    const first = await runtime.watches.watch(ref);
    const second = await runtime.watches.watch(ref);
    const [third] = await runtime.watches.watchMany([ref, ref]);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(third?.created).toBe(false);
    expect(second.watch.id).toBe(first.watch.id);
    expect(await runtime.watches.queue.getJobCountByTypes('delayed', 'waiting', 'prioritized')).toBe(1);

    simulator.resetStats();
    await runtime.startWorker({ concurrency: 8 });
    const record = await runtime.waitForOutcome(first.watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    // One set of polls: the requests the simulator saw equal the polls the single watch made.
    expect(simulator.stats().requests).toBe(record?.watch.polls);
  });

  it('decides by status even when completed_at is null on the droplet GET', async () => {
    stack = await startStack({ name: 'nullcompleted', simulator: { completedAtNullOnDropletGet: true } });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 77, durationMs: 300 });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 77, actionId: action.id });
    await runtime.startWorker();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    expect(record?.action?.completed_at).toBeNull();
  });

  it('keeps polling through an undocumented status and warns once per action', async () => {
    stack = await startStack({ name: 'unknown', env: DIRECT });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({
      kind: 'image',
      resourceId: 12,
      durationMs: 1500,
      initialStatus: { status: 'new', forMs: 1000 },
    });
    const { watch } = await runtime.watches.watch({ kind: 'image', resourceId: 12, actionId: action.id });
    await runtime.startWorker();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    const warnings = stack.logs.find((line) => line.status === 'new' && line.level === 40);
    expect(warnings).toHaveLength(1);
    // It polled more than once while the status was "new".
    expect(record?.watch.polls).toBeGreaterThanOrEqual(3);
  });

  it('ends a watch of a missing action as not_found', async () => {
    stack = await startStack({ name: 'notfound' });
    const { runtime } = stack;
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 4040, actionId: 4040404 });
    await runtime.startWorker();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record).toMatchObject({ outcome: 'not_found', action: null, type: 'action.not_found' });
    expect(record?.reason).toMatch(/404/);
  });

  it('ends a watch as timed_out at its deadline, with the last action seen', async () => {
    stack = await startStack({ name: 'deadline' });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({
      kind: 'image',
      resourceId: 5,
      type: 'transfer',
      durationMs: 60_000,
    });
    const { watch } = await runtime.watches.watch({
      kind: 'image',
      resourceId: 5,
      actionId: action.id,
      timeoutMs: 1200,
    });
    await runtime.startWorker();
    const started = Date.now();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('timed_out');
    expect(record?.action).toMatchObject({ id: action.id, status: 'in-progress' });
    // The last look at the deadline keeps the action in full, as the API returned it.
    expect(record?.action?.region).toMatchObject({ slug: expect.any(String) });
    expect(Date.now() - started).toBeLessThan(4_000);
    const logged = await until(() => stack.logs.find((line) => line.outcome === 'timed_out')[0]);
    expect(logged.level).toBeGreaterThanOrEqual(40);
  });

  it('reports an action that ended just at the deadline as it ended, not as timed_out', async () => {
    stack = await startStack({
      name: 'justintime',
      env: { ...DIRECT, POLL_MIN_INTERVAL: '5s', POLL_MAX_INTERVAL: '5s' },
    });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 8, durationMs: 1000 });
    const { watch } = await runtime.watches.watch({
      kind: 'droplet',
      resourceId: 8,
      actionId: action.id,
      timeoutMs: 1500,
    });
    await runtime.startWorker();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    expect(record?.watch.polls).toBe(2);
  });

  it('never writes the DigitalOcean token to Redis', async () => {
    stack = await startStack({ name: 'notoken' });
    const { simulator, runtime, prefix } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 31, durationMs: 200 });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 31, actionId: action.id });
    await runtime.startWorker();
    await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    const token = stack.config.digitalocean.token?.reveal() ?? '';
    expect(token.length).toBeGreaterThan(0);
    const keys = await runtime.redis.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(3);
    for (const key of keys) {
      const type = await runtime.redis.type(key);
      const content =
        type === 'string'
          ? await runtime.redis.get(key)
          : type === 'hash'
            ? await runtime.redis.hgetall(key)
            : type === 'zset'
              ? await runtime.redis.zrange(key, 0, -1, 'WITHSCORES')
              : type === 'list'
                ? await runtime.redis.lrange(key, 0, -1)
                : type === 'stream'
                  ? await runtime.redis.xrange(key, '-', '+')
                  : type === 'set'
                    ? await runtime.redis.smembers(key)
                    : null;
      expect(JSON.stringify({ key, content })).not.toContain(token);
    }
  });

  it('cancels a waiting watch: outcome cancelled is recorded and emitted once', async () => {
    stack = await startStack({ name: 'cancel' });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 6, durationMs: 60_000 });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 6, actionId: action.id });
    await runtime.startWorker();
    await until(async () => ((await runtime.watches.get(watch.id))?.polls ?? 0) >= 1 || undefined);
    const cancelled = await runtime.watches.cancel(watch.id);
    expect(cancelled).toMatchObject({ state: 'done', outcome: 'cancelled' });
    const job = await runtime.watches.queue.getJob(watch.id);
    await until(async () => (await job?.isCompleted()) || undefined, 5_000);
    const again = await runtime.watches.cancel(watch.id);
    expect(again?.outcome).toBe('cancelled');
    const events = await runtime.redis.xrange(`${stack.prefix}:events`, '-', '+');
    expect(events).toHaveLength(1);
    expect(await runtime.watches.cancel('droplet-1-1')).toBeUndefined();

    // After a cancel, watching the same action again starts afresh.
    const rewatch = await runtime.watches.watch({ kind: 'droplet', resourceId: 6, actionId: action.id });
    expect(rewatch).toMatchObject({ created: true, watch: { state: 'waiting' } });
  });

  it('a cancel wakes a parked watch at once and ends it without another poll', async () => {
    stack = await startStack({
      name: 'cancel-parked',
      env: { ...DIRECT, POLL_MIN_INTERVAL: '30s', POLL_MAX_INTERVAL: '30s' },
    });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 7, durationMs: 600_000 });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 7, actionId: action.id });
    await runtime.startWorker();
    const job = await runtime.watches.queue.getJob(watch.id);
    await until(
      async () => (await job?.isDelayed()) && ((await runtime.watches.get(watch.id))?.polls ?? 0) >= 1,
    );
    const requests = simulator.stats().totalRequests;

    const cancelled = await runtime.watches.cancel(watch.id);
    expect(cancelled).toMatchObject({ state: 'done', outcome: 'cancelled', polls: 1 });
    await until(async () => (await job?.isCompleted()) || undefined, 5_000);
    expect(simulator.stats().totalRequests).toBe(requests);
    expect(
      (await job?.isCompleted()) && (await runtime.watches.queue.getJob(watch.id))?.returnvalue,
    ).toMatchObject({
      outcome: 'cancelled',
    });
  });

  it('the worker removes finished watch jobs after WATCH_RETENTION; the jobs themselves do not carry it', async () => {
    stack = await startStack({ name: 'retention', env: { WATCH_RETENTION: '1s' } });
    const { simulator, runtime } = stack;
    const first = simulator.createAction({ kind: 'droplet', resourceId: 8, durationMs: 100 });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 8, actionId: first.id });
    const job = await runtime.watches.queue.getJob(watch.id);
    expect(job?.opts).not.toHaveProperty('removeOnComplete');
    expect(job?.opts).not.toHaveProperty('removeOnFail');
    await runtime.startWorker();
    await until(async () => (await job?.isCompleted()) || undefined);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Removal by age happens as the next job finishes.
    const second = simulator.createAction({ kind: 'droplet', resourceId: 9, durationMs: 100 });
    const next = await runtime.watches.watch({ kind: 'droplet', resourceId: 9, actionId: second.id });
    await runtime.waitForOutcome(next.watch.id, { timeoutMs: 10_000 });
    await until(
      async () => ((await runtime.watches.queue.getJob(watch.id)) === undefined ? true : undefined),
      5_000,
    );
    expect(await runtime.watches.queue.getJob(next.watch.id)).toBeDefined();
  });

  it('lists watches by state with a cursor', async () => {
    stack = await startStack({ name: 'list' });
    const { simulator, runtime } = stack;
    const refs = Array.from({ length: 5 }, (_, i) => {
      const action = simulator.createAction({
        kind: 'droplet',
        resourceId: 100 + i,
        durationMs: i < 2 ? 100 : 60_000,
      });
      return { kind: 'droplet' as const, resourceId: 100 + i, actionId: action.id };
    });
    await runtime.watches.watchMany(refs);
    await runtime.startWorker();
    await until(async () =>
      (await runtime.watches.list({ state: 'done' })).watches.length === 2 ? true : undefined,
    );
    const waiting = await runtime.watches.list({ state: 'waiting' });
    expect(waiting.watches).toHaveLength(3);
    const firstPage = await runtime.watches.list({ state: 'all', limit: 3 });
    expect(firstPage.watches).toHaveLength(3);
    expect(firstPage.nextCursor).toBeDefined();
    const secondPage = await runtime.watches.list({ state: 'all', limit: 3, cursor: firstPage.nextCursor });
    const ids = [...firstPage.watches, ...secondPage.watches].map((w) => w.id);
    expect(new Set(ids).size).toBe(5);
    expect(ids.every((id) => parseWatchId(id) !== undefined)).toBe(true);
  });
});
