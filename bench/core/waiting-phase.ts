import type { Redis } from '../../src/support/redis.js';
import { WATCH_QUEUE } from '../../src/watches/keys.js';
import { ActionFactory, type StartedAction, seededRandom, watchActions } from '../support/actions.js';
import type { BenchEnvironment } from '../support/bench-environment.js';
import { BUDGET_GROUP, type KeyGroup, memoryByGroup, usedMemory } from '../support/redis-memory.js';
import { sleep, waitFor } from '../support/timing.js';

export interface WaitingSettings {
  watches: number;
  concurrency: number;
}

/** One watch's BullMQ job hash: its encoding decides most of what a waiting watch costs. */
export interface JobHashSample {
  encoding: string;
  fields: number;
  longestField: string;
  longestValueBytes: number;
}

/** Redis memory held by the waiting watches at one moment. */
export interface MemorySnapshot {
  /** used_memory growth since before the watches were enqueued, request budget excluded. */
  deltaBytes: number;
  /** MEMORY USAGE of this run's keys by group. */
  groups: Map<string, KeyGroup>;
  jobHash: JobHashSample;
}

export interface WaitingResult {
  watches: number;
  /** Just enqueued, none polled yet (the first poll held back). */
  enqueued: MemorySnapshot;
  /** After every watch was polled once and parked until its next poll: the steady waiting state. */
  polled: MemorySnapshot;
  enqueueMs: number;
  firstPollsMs: number;
  workerIdleRssBytes: number;
  workerRssBytes: number;
  workerPeakRssBytes: number;
  workerLog: Map<string, number>;
}

const HOUR = '1h';
const HOUR_MS = 3_600_000;

/**
 * N watches waiting at once: Redis bytes per waiting watch (the used_memory delta, cross-checked
 * by MEMORY USAGE of every key of the run) and the worker's RSS while they wait. Measured twice:
 * right after enqueueing, and after each watch's first poll, when its job carries the action seen.
 */
export async function runWaiting(env: BenchEnvironment, settings: WaitingSettings): Promise<WaitingResult> {
  const prefix = env.newPrefix('waiting');
  // The worker re-polls each watch only after an hour; the producer holds the first poll back an
  // hour too, until the benchmark promotes every job at once.
  const workerEnv = env.configEnv(prefix, {
    POLL_MIN_INTERVAL: HOUR,
    POLL_MAX_INTERVAL: HOUR,
    WORKER_CONCURRENCY: String(settings.concurrency),
  });
  const producer = env.producer(prefix, { POLL_FIRST_DELAY: HOUR });
  const worker = await env.startWorker(prefix, workerEnv);
  const queue = producer.watches.queue;
  try {
    await queue.waitUntilReady();
    await sleep(500);
    const workerIdleRssBytes = worker.usage().rssBytes;
    const baseline = await usedMemory(env.redis);
    const actions = new ActionFactory(env.simulator, seededRandom(7)).start(
      Array.from({ length: settings.watches }, () => ({ durationMs: 2 * HOUR_MS })),
    );
    const sampleKey = `${prefix}:${WATCH_QUEUE}:${(actions[0] as StartedAction).watchId}`;
    const snapshot = async (): Promise<MemorySnapshot> => {
      const used = await usedMemory(env.redis);
      const groups = await memoryByGroup(env.redis, prefix);
      const budgetBytes = groups.get(BUDGET_GROUP)?.bytes ?? 0;
      return {
        deltaBytes: used - baseline - budgetBytes,
        groups,
        jobHash: await sampleJobHash(env.redis, sampleKey),
      };
    };

    const enqueueStart = performance.now();
    await watchActions(producer.watches, actions, 1000);
    const enqueueMs = performance.now() - enqueueStart;
    const enqueued = await snapshot();

    const requestsBefore = env.simulator.stats().totalRequests;
    const pollStart = performance.now();
    await queue.promoteJobs({ count: 1000 });
    await waitFor(
      `the first poll of all ${settings.watches} watches`,
      async () => {
        if (env.simulator.stats().totalRequests - requestsBefore < settings.watches) return false;
        const counts = await queue.getJobCounts('delayed', 'wait', 'active', 'prioritized');
        return counts.delayed === settings.watches && counts.wait === 0 && counts.active === 0;
      },
      180_000,
      200,
    );
    const firstPollsMs = performance.now() - pollStart;
    const polled = await snapshot();
    const usage = worker.usage();
    return {
      watches: settings.watches,
      enqueued,
      polled,
      enqueueMs,
      firstPollsMs,
      workerIdleRssBytes,
      workerRssBytes: usage.rssBytes,
      workerPeakRssBytes: usage.peakRssBytes,
      workerLog: worker.logKinds,
    };
  } finally {
    await worker.stop();
    await producer.close();
    await env.dropPrefix(prefix);
  }
}

async function sampleJobHash(redis: Redis, key: string): Promise<JobHashSample> {
  const fields = Object.entries(await redis.hgetall(key));
  const [longestField, longest] = fields.reduce<[string, string]>(
    (best, entry) => (Buffer.byteLength(entry[1]) > Buffer.byteLength(best[1]) ? entry : best),
    ['', ''],
  );
  return {
    encoding: String(await redis.object('ENCODING', key)),
    fields: fields.length,
    longestField,
    longestValueBytes: Buffer.byteLength(longest),
  };
}
