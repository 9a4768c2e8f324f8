import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { loadConfig } from '../../src/config/config.js';
import type { FleetTotals } from '../../src/fleet/fleet.js';
import { createLogger } from '../../src/logging/logger.js';
import { EventStream } from '../../src/notifications/event-stream.js';
import { Runtime } from '../../src/runtime.js';
import type { ListOrder } from '../../src/simulator/index.js';
import { Simulator } from '../../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix, type Redis } from '../../src/support/redis.js';
import { eventsKey, WATCH_QUEUE } from '../../src/watches/keys.js';
import type { OutcomeRecord } from '../../src/watches/watch.js';
import { watchIdOf } from '../../src/watches/watch-ref.js';
import { readProcessUsage } from '../support/process-usage.js';
import { FLEET_GROUP, memoryByGroup, usedMemory } from '../support/redis-memory.js';
import { sleep } from '../support/timing.js';
import { CompressedClock } from './compressed-time.js';
import type { PlannedAction } from './workload.js';

const TOKEN = 'fleet-bench-token';
const WORKER_MAIN = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
const HOUR = 3_600_000;

export interface FleetRunSettings {
  mode: 'batched' | 'direct';
  actions: readonly PlannedAction[];
  timeScale: number;
  workers: number;
  listOrder: ListOrder;
  /** Other people's actions per simulated second, all run long. */
  backgroundPerSecond: number;
  /** Finished actions already on the account before the run. */
  history: number;
  /** The simulator's limits; false for none (the direct baseline sample). */
  rateLimit: { perMinute: number; perHour: number } | false;
  /** The REDIS_* variables of the Redis under test. */
  redisEnv: Record<string, string>;
}

export interface Detection {
  watchId: string;
  /** Simulated ms from the action's end to its outcome being recorded. */
  latencyMs: number;
  /** Simulated ms from the run's start to the action's end. */
  endedAfterMs: number;
  right: boolean;
}

export interface FleetRun {
  settings: Omit<FleetRunSettings, 'actions'> & { actionCount: number };
  detections: Detection[];
  missing: number;
  requests: number;
  byRoute: Record<string, number>;
  rateLimited: number;
  /** Simulated ms from the first action's start to the last outcome. */
  simulatedSpanMs: number;
  wallSpanMs: number;
  /** CPU of all worker processes over the run, in ms, and as cores on average. */
  workerCpuMs: number;
  workerCores: number;
  workerPeakRssBytes: number;
  /** used_memory of the Redis server: before the run, and its highest sample during it. */
  redisBeforeBytes: number;
  redisPeakBytes: number;
  /** MEMORY USAGE of this run's keys when every watch was enqueued. */
  keysAtPeakBytes: number;
  fleetKeysAtPeakBytes: number;
  totals: FleetTotals[];
  /** The detection bound of every planning round of every worker (simulated ms). */
  boundsMs: number[];
  workerLogTail: string[];
}

interface WorkerChild {
  child: ChildProcess;
  pid: number;
  stdout: string;
  log: string[];
}

/**
 * One run of the workload: the simulator on the compressed clock, N worker processes, every action
 * started on schedule and watched from its start, until every outcome is in (or the run gives up).
 */
export async function runFleet(
  settings: FleetRunSettings,
  progress: (line: string) => void,
): Promise<FleetRun> {
  const clock = new CompressedClock(Date.now(), settings.timeScale);
  const simulator = await Simulator.start({
    tokens: [TOKEN],
    rateLimit: settings.rateLimit,
    listOrder: settings.listOrder,
    now: clock.now,
    defaultDurationMs: 20 * 60_000,
    ...(settings.backgroundPerSecond > 0
      ? { background: { actionsPerSecond: settings.backgroundPerSecond * settings.timeScale } }
      : {}),
  });
  const redis = createRedis(loadConfig(settings.redisEnv).redis, {
    connectionName: 'actionwatch-fleet-bench',
  });
  const configuredPrefix = `awbench-fleet-${settings.mode}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // What the keys start with: on a Cluster, the prefix inside its hash tag.
  const prefix = loadConfig({ ...settings.redisEnv, ACTIONWATCH_PREFIX: configuredPrefix }).prefix;
  const workers: WorkerChild[] = [];
  let producer: Runtime | undefined;
  try {
    seedHistory(simulator, settings.history, clock);
    const env = workerEnv(settings, simulator.url, configuredPrefix, clock);
    const redisBeforeBytes = await usedMemory(redis);
    for (let i = 0; i < settings.workers; i++) workers.push(await startWorker(env, redis, prefix));
    const cpuBefore = workers.reduce((sum, worker) => sum + readProcessUsage(worker.pid).cpuMs, 0);
    producer = new Runtime(loadConfig(env), createLogger({ level: 'warn' }));
    const expected = new Map<string, { completesAt: number; result: string }>();
    let redisPeakBytes = redisBeforeBytes;
    const sampler = setInterval(() => {
      void usedMemory(redis).then((bytes) => {
        redisPeakBytes = Math.max(redisPeakBytes, bytes);
      });
    }, 1_000);
    const wallStart = Date.now();
    const simStart = clock.now();
    try {
      await startActions(settings.actions, simulator, producer, clock, simStart, expected);
      progress(`${settings.mode}: ${expected.size} watches enqueued; waiting for their outcomes`);
      const groups = await memoryByGroup(redis, prefix);
      const keysAtPeakBytes = [...groups.values()].reduce((sum, group) => sum + group.bytes, 0);
      const fleetKeysAtPeakBytes = groups.get(FLEET_GROUP)?.bytes ?? 0;
      const longest = Math.max(...settings.actions.map((action) => action.startOffsetMs + action.durationMs));
      const deadline = Date.now() + clock.wall(longest) + 180_000;
      const events = eventsKey(prefix);
      let reported = 0;
      while ((await redis.xlen(events)) < expected.size && Date.now() < deadline) {
        await sleep(1_000);
        const done = await redis.xlen(events);
        if (done - reported >= expected.size / 10) {
          reported = done;
          const simMinutes = (clock.now() - simStart) / 60_000;
          progress(
            `${settings.mode}: ${done} of ${expected.size} outcomes after ${simMinutes.toFixed(1)} simulated minutes, ${simulator.stats().totalRequests} requests`,
          );
        }
      }
      const wallSpanMs = Date.now() - wallStart;
      const cpuAfter = workers.reduce((sum, worker) => sum + readProcessUsage(worker.pid).cpuMs, 0);
      const peakRss = Math.max(...workers.map((worker) => readProcessUsage(worker.pid).peakRssBytes));
      const records = await readOutcomes(new EventStream(redis, prefix));
      const detections: Detection[] = [];
      let lastFinish = simStart;
      for (const record of records) {
        const wanted = expected.get(record.watch.id);
        if (wanted === undefined) continue;
        const finished = clock.simulated(Date.parse(record.watch.finishedAt));
        lastFinish = Math.max(lastFinish, finished);
        detections.push({
          watchId: record.watch.id,
          latencyMs: finished - wanted.completesAt,
          endedAfterMs: wanted.completesAt - simStart,
          right: record.outcome === wanted.result,
        });
      }
      const stats = simulator.stats();
      clearInterval(sampler);
      const { totals, boundsMs } = await stopWorkers(workers);
      return {
        settings: {
          ...settings,
          actionCount: settings.actions.length,
          actions: undefined,
        } as FleetRun['settings'],
        detections,
        missing: expected.size - detections.length,
        requests: stats.totalRequests,
        byRoute: stats.byRoute,
        rateLimited: stats.rateLimited,
        simulatedSpanMs: lastFinish - simStart,
        wallSpanMs,
        workerCpuMs: cpuAfter - cpuBefore,
        workerCores: (cpuAfter - cpuBefore) / wallSpanMs,
        workerPeakRssBytes: peakRss,
        redisBeforeBytes,
        redisPeakBytes,
        keysAtPeakBytes,
        fleetKeysAtPeakBytes,
        totals,
        boundsMs,
        workerLogTail: workers.flatMap((worker) => worker.log.slice(-5)),
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await stopWorkers(workers);
    await producer?.close();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await simulator.close();
  }
}

function workerEnv(
  settings: FleetRunSettings,
  apiUrl: string,
  prefix: string,
  clock: CompressedClock,
): Record<string, string> {
  const scaled = (ms: number) => `${Math.max(1, Math.round(ms / settings.timeScale))}ms`;
  const limits =
    settings.rateLimit === false ? { perMinute: 1_000_000_000, perHour: 1_000_000_000 } : settings.rateLimit;
  return {
    PATH: process.env.PATH ?? '',
    ...settings.redisEnv,
    DIGITALOCEAN_API_URL: apiUrl,
    DIGITALOCEAN_TOKEN: TOKEN,
    ACTIONWATCH_PREFIX: prefix,
    OBSERVE_MODE: settings.mode,
    RATE_LIMIT_PER_MINUTE: String(limits.perMinute),
    RATE_LIMIT_PER_HOUR: String(limits.perHour),
    POLL_FIRST_DELAY: '0s',
    POLL_MIN_INTERVAL: scaled(2_000),
    POLL_MAX_INTERVAL: scaled(60_000),
    WATCH_TIMEOUT: scaled(3 * HOUR),
    LOG_LEVEL: 'warn',
    ...(process.env.FLEET_BENCH_TRACE ? { FLEET_BENCH_TRACE: process.env.FLEET_BENCH_TRACE } : {}),
    ...clock.env(),
  };
}

/** The account's past: finished actions on other resources, older than anything watched. */
function seedHistory(simulator: Simulator, count: number, clock: CompressedClock): void {
  const start = clock.now() - 2 * HOUR;
  for (let i = 0; i < count; i++) {
    simulator.createAction({
      kind: i % 3 === 0 ? 'image' : 'droplet',
      resourceId: 5_000_000 + i,
      type: i % 3 === 0 ? 'transfer' : 'power_cycle',
      durationMs: 45_000,
      startedAt: start + i * 1_000,
    });
  }
}

async function startWorker(env: Record<string, string>, redis: Redis, prefix: string): Promise<WorkerChild> {
  const child = spawn(process.execPath, [WORKER_MAIN], {
    cwd: tmpdir(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await once(child, 'spawn');
  if (child.pid === undefined) throw new Error('a worker process did not start');
  const worker: WorkerChild = { child, pid: child.pid, stdout: '', log: [] };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    worker.stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line.trim() !== '') worker.log.push(line);
    if (worker.log.length > 200) worker.log.splice(0, worker.log.length - 200);
  });
  const queue = new Queue(WATCH_QUEUE, { connection: redis, prefix });
  try {
    const deadline = Date.now() + 20_000;
    let count = await queue.getWorkersCount();
    while (count < 1) {
      if (child.exitCode !== null) throw new Error(`a worker exited at start:\n${worker.log.join('\n')}`);
      if (Date.now() > deadline) throw new Error('a worker did not register on the queue within 20 s');
      await sleep(50);
      count = await queue.getWorkersCount();
    }
  } finally {
    await queue.close();
  }
  return worker;
}

/** SIGTERM each worker (in-flight steps finish) and read the totals it prints as it exits. */
async function stopWorkers(workers: WorkerChild[]): Promise<{ totals: FleetTotals[]; boundsMs: number[] }> {
  const totals: FleetTotals[] = [];
  const boundsMs: number[] = [];
  for (const worker of workers.splice(0)) {
    if (worker.child.exitCode === null) {
      const exit = once(worker.child, 'exit');
      worker.child.kill('SIGTERM');
      const timer = setTimeout(() => worker.child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    }
    try {
      const parsed = JSON.parse(worker.stdout.trim().split('\n').pop() ?? 'null') as {
        totals: FleetTotals | null;
        bounds?: number[];
      };
      if (parsed.totals !== null) totals.push(parsed.totals);
      boundsMs.push(...(parsed.bounds ?? []));
    } catch {
      // killed before it could report
    }
  }
  return { totals, boundsMs };
}

/** Starts each action at its simulated start time and watches it at once, in small batches. */
async function startActions(
  actions: readonly PlannedAction[],
  simulator: Simulator,
  producer: Runtime,
  clock: CompressedClock,
  simStart: number,
  expected: Map<string, { completesAt: number; result: string }>,
): Promise<void> {
  let next = 0;
  while (next < actions.length) {
    const now = clock.now();
    const batch: Array<{ kind: PlannedAction['kind']; resourceId: number; actionId: number }> = [];
    while (next < actions.length && simStart + (actions[next] as PlannedAction).startOffsetMs <= now) {
      const planned = actions[next++] as PlannedAction;
      const startedAt = simStart + planned.startOffsetMs;
      const action = simulator.createAction({
        kind: planned.kind,
        resourceId: planned.resourceId,
        type: planned.type,
        durationMs: planned.durationMs,
        result: planned.result,
        startedAt,
      });
      const ref = { kind: planned.kind, resourceId: planned.resourceId, actionId: action.id };
      batch.push(ref);
      expected.set(watchIdOf(ref), { completesAt: startedAt + planned.durationMs, result: planned.result });
    }
    for (let start = 0; start < batch.length; start += 500) {
      await producer.watches.watchMany(batch.slice(start, start + 500));
    }
    await sleep(10);
  }
}

async function readOutcomes(stream: EventStream): Promise<OutcomeRecord[]> {
  const records: OutcomeRecord[] = [];
  let cursor = '0-0';
  for (;;) {
    const events = await stream.readAfter(cursor, 1000);
    if (events.length === 0) return records;
    for (const event of events) if (event.subject === 'watch') records.push(event.record);
    cursor = (events.at(-1) as { id: string }).id;
  }
}
