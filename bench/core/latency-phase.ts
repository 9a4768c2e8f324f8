import type { PollSchedule } from '../../src/config/config.js';
import { EventStream } from '../../src/notifications/event-stream.js';
import { eventsKey } from '../../src/watches/keys.js';
import { baseInterval } from '../../src/watches/schedule.js';
import type { OutcomeRecord } from '../../src/watches/watch.js';
import {
  ActionFactory,
  type ActionSpec,
  type StartedAction,
  seededRandom,
  watchActions,
} from '../support/actions.js';
import type { BenchEnvironment } from '../support/bench-environment.js';
import { type CpuShares, cpuBetween, readCpu } from '../support/cpu-meter.js';
import { sleep, waitFor } from '../support/timing.js';

export interface LatencySettings {
  actions: number;
  /** Real time runs this many times faster: schedule, durations and arrivals all divided by it. */
  timeScale: number;
  /** Real-time span over which the actions start, before compression. */
  arrivalSpanMs: number;
  /** Real-time durations, drawn log-uniformly between these, before compression. */
  minDurationMs: number;
  maxDurationMs: number;
  /** Share of actions that end `errored`. */
  erroredShare: number;
  /** Allowance on top of the poll interval: queueing, the poll itself, recording the outcome. */
  slackMs: number;
  concurrency: number;
}

/** One action's detection, in compressed (benchmark) time. */
export interface Detection {
  watchId: string;
  latencyMs: number;
  /** The action's age at completion as the worker's schedule sees it. */
  ageMs: number;
  /** The unjittered poll interval at the action's age when it completed (baseInterval). */
  intervalMs: number;
  polls: number;
  outcomeAsExpected: boolean;
}

export interface LatencyResult {
  schedule: PollSchedule;
  detections: Detection[];
  /** Watches that produced no outcome before the benchmark gave up on them. */
  missing: number;
  apiRequests: number;
  durationMs: number;
  cpu: CpuShares;
  workerPeakRssBytes: number;
  workerLog: Map<string, number>;
}

/** The product's default schedule (POLL_* defaults), every duration divided by `timeScale`. */
export function scaledSchedule(defaults: PollSchedule, timeScale: number): PollSchedule {
  return {
    ...defaults,
    firstDelayMs: Math.round(defaults.firstDelayMs / timeScale),
    minIntervalMs: Math.round(defaults.minIntervalMs / timeScale),
    maxIntervalMs: Math.round(defaults.maxIntervalMs / timeScale),
  };
}

interface Arrival extends ActionSpec {
  atMs: number;
}

function planArrivals(settings: LatencySettings): Arrival[] {
  const random = seededRandom(2000);
  const span = settings.arrivalSpanMs / settings.timeScale;
  const low = Math.log(settings.minDurationMs / settings.timeScale);
  const high = Math.log(settings.maxDurationMs / settings.timeScale);
  return Array.from({ length: settings.actions }, () => ({
    atMs: random() * span,
    durationMs: Math.round(Math.exp(low + random() * (high - low))),
    result: random() < settings.erroredShare ? ('errored' as const) : ('completed' as const),
  })).sort((a, b) => a.atMs - b.atMs);
}

/**
 * The default mix: actions of both kinds arriving over a span, lasting from seconds to minutes,
 * each watched from the moment it starts. Detection latency is when the outcome was recorded
 * (`finishedAt`) minus the simulated completion time.
 */
export async function runLatency(env: BenchEnvironment, settings: LatencySettings): Promise<LatencyResult> {
  const prefix = env.newPrefix('latency');
  const defaults = env.config(prefix).schedule;
  const schedule = scaledSchedule(defaults, settings.timeScale);
  const scheduleEnv = {
    POLL_FIRST_DELAY: `${schedule.firstDelayMs}ms`,
    POLL_MIN_INTERVAL: `${schedule.minIntervalMs}ms`,
    POLL_MAX_INTERVAL: `${schedule.maxIntervalMs}ms`,
    POLL_AGE_FACTOR: String(schedule.ageFactor),
    POLL_JITTER: String(schedule.jitter),
  };
  const workerEnv = env.configEnv(prefix, {
    ...scheduleEnv,
    WORKER_CONCURRENCY: String(settings.concurrency),
  });
  const producer = env.producer(prefix, scheduleEnv);
  const worker = await env.startWorker(prefix, workerEnv);
  try {
    const factory = new ActionFactory(env.simulator, seededRandom(3));
    const arrivals = planArrivals(settings);
    const started = new Map<string, StartedAction>();
    const requestsBefore = env.simulator.stats().totalRequests;
    const cpuBefore = await readCpu(worker, env.redis);
    const begin = performance.now();
    let next = 0;
    while (next < arrivals.length) {
      const now = performance.now() - begin;
      const due: Arrival[] = [];
      while (next < arrivals.length && (arrivals[next] as Arrival).atMs <= now)
        due.push(arrivals[next++] as Arrival);
      if (due.length > 0) {
        const actions = factory.start(due);
        for (const action of actions) started.set(action.watchId, action);
        await watchActions(producer.watches, actions);
      }
      await sleep(20);
    }
    const longest = Math.max(...arrivals.map((arrival) => arrival.durationMs));
    const outcomes = eventsKey(prefix);
    await waitFor(
      `outcomes of ${settings.actions} watches`,
      async () => (await env.redis.xlen(outcomes)) >= settings.actions,
      longest + 120_000,
      250,
    ).catch(() => {
      // Reported below as missing outcomes rather than failing the whole run.
    });
    const durationMs = performance.now() - begin;
    const cpu = cpuBetween(cpuBefore, await readCpu(worker, env.redis));
    const apiRequests = env.simulator.stats().totalRequests - requestsBefore;
    const records = await readOutcomes(new EventStream(env.redis, prefix));
    const detections = records.flatMap((record) => {
      const action = started.get(record.watch.id);
      return action === undefined ? [] : [detectionOf(record, action, schedule)];
    });
    return {
      schedule,
      detections,
      missing: settings.actions - detections.length,
      apiRequests,
      durationMs,
      cpu,
      workerPeakRssBytes: worker.usage().peakRssBytes,
      workerLog: worker.logKinds,
    };
  } finally {
    await worker.stop();
    await producer.close();
    await env.dropPrefix(prefix);
  }
}

async function readOutcomes(stream: EventStream): Promise<OutcomeRecord[]> {
  const records: OutcomeRecord[] = [];
  let cursor = '0-0';
  while (true) {
    const events = await stream.readAfter(cursor, 1000);
    if (events.length === 0) return records;
    for (const event of events) if (event.subject === 'watch') records.push(event.record);
    cursor = (events.at(-1) as { id: string }).id;
  }
}

function detectionOf(record: OutcomeRecord, action: StartedAction, schedule: PollSchedule): Detection {
  // The age the worker's schedule sees: from the API's whole-second started_at (or enqueue, if earlier).
  const origin = Math.min(Date.parse(action.startedAtIso), Date.parse(record.watch.enqueuedAt));
  const ageMs = action.completesAtMs - origin;
  return {
    watchId: action.watchId,
    latencyMs: Date.parse(record.watch.finishedAt) - action.completesAtMs,
    ageMs,
    intervalMs: baseInterval(schedule, ageMs),
    polls: record.watch.polls,
    outcomeAsExpected: record.outcome === action.result,
  };
}
