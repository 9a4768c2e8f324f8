import { afterEach, describe, expect, it } from 'vitest';
import type { WatchWorker } from '../src/watches/watch-worker.js';
import { SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';

/** For tests that count polls as requests: in batched mode, shared sweeps look without polling. */
const DIRECT = { OBSERVE_MODE: 'direct' };

/** How long after a job comes due an unheld worker has certainly taken it (it picks one up in ms). */
const PICKUP_SLACK_MS = 1000;

/**
 * Direct mode, held by the queue's rate limit: a held BullMQ worker says nothing while it waits
 * (its next look at the queue is up to maximumRateLimitDelay, 30 s, away), so no event marks "it
 * would have polled by now". The nearest observable is each job's own plan: resolves once every
 * watch's planned next poll (`dueAt` in its job data; a job never parked was due at once) is
 * PICKUP_SLACK_MS past. A fixed slack remains, but it is counted from the plan, not guessed.
 */
async function everyPlannedPollPassed(stack: Stack): Promise<void> {
  const queue = stack.runtime.watches.queue;
  await until(async () => {
    const jobs = await queue.getJobs(['delayed', 'wait', 'prioritized', 'active']);
    if (jobs.length === 0) return undefined;
    const latest = Math.max(...jobs.map((job) => job.data.dueAt ?? 0));
    return Date.now() >= latest + PICKUP_SLACK_MS ? true : undefined;
  });
}

describe('a worker facing DigitalOcean failures', () => {
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('retries transient failures inside one poll (5xx, dropped connection, malformed and wrong-shape JSON)', async () => {
    stack = await startStack({ name: 'transient', env: DIRECT });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 1, durationMs: 0 });
    simulator.injectFault({ kind: 'status', status: 503 });
    simulator.injectFault({ kind: 'drop' });
    simulator.injectFault({ kind: 'malformed-json' });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 1, actionId: action.id });
    await runtime.startWorker();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    // All three faults were met and absorbed by one poll's retries.
    expect(simulator.stats().faultsApplied).toBe(3);
    expect(record?.watch.polls).toBe(1);
    expect(stack.logs.find((line) => line.msg === 'poll failed; will try again')).toHaveLength(0);
  });

  it('survives a poll that still fails after its retries and tries again at the next poll', async () => {
    stack = await startStack({ name: 'pollfail', env: { ...DIRECT, DIGITALOCEAN_RETRIES: '1' } });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'image', resourceId: 2, durationMs: 0 });
    simulator.injectFault({ kind: 'wrong-shape', times: 2 });
    simulator.injectFault({ kind: 'status', status: 502, times: 2 });
    const { watch } = await runtime.watches.watch({ kind: 'image', resourceId: 2, actionId: action.id });
    await runtime.startWorker();
    const waiting = await until(async () => {
      const current = await runtime.watches.get(watch.id);
      return current?.lastError !== undefined ? current : undefined;
    });
    expect(waiting.state).toBe('waiting');
    expect(waiting.lastError).toMatch(/not the expected JSON|502/);
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    expect(record?.watch.polls).toBe(3);
    expect(stack.logs.find((line) => line.msg === 'poll failed; will try again').length).toBe(2);
  });

  it('pauses every worker on a 429 with retry-after, then resumes and loses no watch', async () => {
    stack = await startStack({ name: 'retryafter' });
    const { simulator, runtime } = stack;
    const refs = Array.from({ length: 6 }, (_, i) => {
      const action = simulator.createAction({ kind: 'droplet', resourceId: 10 + i, durationMs: 1500 });
      return { kind: 'droplet' as const, resourceId: 10 + i, actionId: action.id };
    });
    const watches = await runtime.watches.watchMany(refs);
    simulator.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 2 });
    // Two workers (two "processes"): the pause must hold both back.
    await runtime.startWorker({ concurrency: 2 });
    await stack.another().startWorker({ concurrency: 2 });
    await until(() => (simulator.stats().rateLimited === 1 ? true : undefined));
    const pausedAt = Date.now();
    const usage = await runtime.budget().usage();
    expect(usage.pausedUntil).toBeGreaterThan(pausedAt + 1000);
    const records = await Promise.all(
      watches.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 15_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(Array(6).fill('completed'));
    expect(simulator.stats().rateLimited).toBe(1);
    // The outcomes needed requests after the pause; the simulator's log says none came during it.
    const arrivals = simulator.requestLog().map((request) => request.arrivedAt);
    expect(arrivals.filter((at) => at >= pausedAt && at < usage.pausedUntil - 100)).toEqual([]);
    expect(arrivals.some((at) => at >= usage.pausedUntil - 100)).toBe(true);
  });

  // Both observers must stop before the hour runs out: direct mode by pausing the queue (BullMQ's
  // rate limit), batched mode by its sweeper's allowance and the shared budget refusing requests.
  for (const mode of ['direct', 'batched'] as const) {
    it(`${mode}: slows down before the hour limit, from ratelimit-remaining alone, and meets no 429`, async () => {
      stack = await startStack({
        name: `remaining-${mode}`,
        simulator: { rateLimit: { perMinute: 250, perHour: 3 } },
        env: { OBSERVE_MODE: mode },
      });
      const { simulator, runtime } = stack;
      const refs = Array.from({ length: 3 }, (_, i) => {
        const action = simulator.createAction({ kind: 'image', resourceId: 30 + i, durationMs: 600_000 });
        return { kind: 'image' as const, resourceId: 30 + i, actionId: action.id };
      });
      await runtime.watches.watchMany(refs);
      await runtime.startWorker({ concurrency: 3 });
      // Batched rounds that could not cover every due watch: the sweeper looked, and held back.
      let shortRounds = 0;
      runtime.batching?.on('round', (report) => {
        if (report.short) shortRounds += 1;
      });
      await until(() => (simulator.stats().requests >= 1 ? true : undefined), 15_000);
      if (mode === 'direct') {
        await until(async () =>
          (await runtime.watches.queue.getRateLimitTtl()) > 3_000_000 ? true : undefined,
        );
      } else {
        // The sweeper stops once ratelimit-remaining is down to the share kept for others.
        await until(() => (shortRounds >= 1 ? true : undefined), 15_000);
      }
      const requests = simulator.stats().requests;
      expect(requests).toBeLessThanOrEqual(3);
      if (mode === 'direct') {
        // Every watch's next step came due (the budget refused it and held the queue) and waits.
        await everyPlannedPollPassed(stack);
      } else {
        // Two more rounds found the watches due again and held them.
        const seen = shortRounds;
        await until(() => (shortRounds >= seen + 2 ? true : undefined), 15_000);
      }
      expect(simulator.stats().requests).toBe(requests);
      expect(simulator.stats().rateLimited).toBe(0);
      const { watches } = await runtime.watches.list({ state: 'waiting' });
      expect(watches).toHaveLength(3);
    });

    it(`${mode}: on a 429 without retry-after (someone else spent the token) waits until ratelimit-reset, keeping the watch`, async () => {
      stack = await startStack({
        name: `hourlimit-${mode}`,
        simulator: { rateLimit: { perMinute: 250, perHour: 6 } },
        // No headroom: with the default 10 %, batched mode's sweeper stops as soon as
        // ratelimit-remaining falls below the share kept for others, and never meets the 429.
        env: { POLL_MIN_INTERVAL: '1s', OBSERVE_MODE: mode, RATE_LIMIT_HEADROOM: '0' },
      });
      const { simulator, runtime } = stack;
      const action = simulator.createAction({ kind: 'image', resourceId: 35, durationMs: 600_000 });
      const { watch } = await runtime.watches.watch({ kind: 'image', resourceId: 35, actionId: action.id });
      await runtime.startWorker();
      await until(() => (simulator.stats().requests >= 1 ? true : undefined));
      // Another tool on the same token spends the rest of the hour.
      while (simulator.stats().rateLimited === 0) {
        await fetch(`${simulator.url}/v2/actions/${action.id}`, {
          headers: { authorization: `Bearer ${SIM_TOKEN}` },
        });
      }
      // Our worker's next request meets the 429 too; the simulator's oldest counted request expires
      // an hour after it was made, and that is how long every worker now holds back.
      await until(async () => {
        const usage = await runtime.budget().usage();
        return usage.pausedUntil > Date.now() + 3_500_000 ? true : undefined;
      }, 10_000);
      if (mode === 'direct') expect(await runtime.watches.queue.getRateLimitTtl()).toBeGreaterThan(3_000_000);
      const requests = simulator.stats().requests;
      if (mode === 'direct') {
        // The watch's next poll (1 s apart at most) came due while the queue is held.
        await everyPlannedPollPassed(stack);
      } else {
        // Two more rounds found the watch due and sent nothing: the sweeper holds back too.
        let rounds = 0;
        const counted = () => {
          rounds += 1;
        };
        runtime.batching?.on('round', counted);
        await until(() => (rounds >= 2 ? true : undefined), 15_000);
        runtime.batching?.off('round', counted);
      }
      expect(simulator.stats().requests).toBe(requests);
      expect((await runtime.watches.get(watch.id))?.state).toBe('waiting');
    });
  }

  it('resumes after an injected 429 without retry-after once ratelimit-reset passes', async () => {
    stack = await startStack({ name: 'reset' });
    const { simulator, runtime } = stack;
    const action = simulator.createAction({ kind: 'droplet', resourceId: 40, durationMs: 0 });
    simulator.injectFault({ kind: 'status', status: 429 });
    const { watch } = await runtime.watches.watch({ kind: 'droplet', resourceId: 40, actionId: action.id });
    await runtime.startWorker();
    const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 });
    expect(record?.outcome).toBe('completed');
    expect(simulator.stats().rateLimited).toBe(1);
    expect(stack.logs.find((line) => line.msg === 'pausing every worker')).toHaveLength(1);
  });

  it('stops polling on a 401, says so once, keeps the watches, and a worker with a valid token finishes them', async () => {
    stack = await startStack({ name: 'unauthorized' });
    const { simulator, runtime } = stack;
    const refs = Array.from({ length: 4 }, (_, i) => {
      const action = simulator.createAction({ kind: 'droplet', resourceId: 50 + i, durationMs: 2000 });
      return { kind: 'droplet' as const, resourceId: 50 + i, actionId: action.id };
    });
    const watches = await runtime.watches.watchMany(refs);
    simulator.setTokens(['a-different-token']);
    const worker: WatchWorker = await runtime.startWorker({ concurrency: 4 });
    await until(() => (worker.isTokenRejected ? true : undefined));
    // The worker takes no job any more, and the polls in flight when the token was refused have
    // set their watches aside: nothing can ask DigitalOcean now.
    expect(worker.worker.isPaused()).toBe(true);
    await until(async () => {
      const counts = await runtime.watches.queue.getJobCounts('active', 'delayed');
      return counts.active === 0 && counts.delayed === 4 ? true : undefined;
    });
    const requests = simulator.stats().requests;
    const refusals = stack.logs.find((line) => String(line.msg).includes('DigitalOcean refused the token'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.level).toBeGreaterThanOrEqual(50);
    expect(JSON.stringify(stack.logs.raw)).not.toContain(SIM_TOKEN);
    const waiting = await runtime.watches.list({ state: 'waiting' });
    expect(waiting.watches).toHaveLength(4);
    expect(await runtime.watches.queue.getJobCountByTypes('failed')).toBe(0);

    expect(simulator.stats().requests).toBe(requests);

    simulator.setTokens([SIM_TOKEN]);
    await stack.another().startWorker({ concurrency: 4 });
    const records = await Promise.all(
      watches.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 20_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(Array(4).fill('completed'));
    // One refusal at most for each poll that was in flight, and for the sweeper's list (it gives up
    // after one); none after the worker stopped.
    const refused = simulator.requestLog().filter((request) => request.status === 401);
    const lists = refused.filter((request) => request.route === 'GET /v2/actions');
    expect(refused.length).toBeGreaterThan(0);
    expect(lists.length).toBeLessThanOrEqual(1);
    expect(refused.length - lists.length).toBeLessThanOrEqual(4);
  });
});
