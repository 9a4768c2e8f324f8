import { ActionFactory, seededRandom, watchActions } from '../support/actions.js';
import type { BenchEnvironment } from '../support/bench-environment.js';
import { type CpuShares, cpuBetween, readCpu } from '../support/cpu-meter.js';
import { sleep } from '../support/timing.js';

export interface ThroughputSettings {
  runs: number;
  /** In-progress watches kept polling; far more than the worker can serve at the interval below. */
  watches: number;
  /** Fixed poll interval, so short that every watch is always due: the worker is saturated. */
  pollIntervalMs: number;
  warmupMs: number;
  windowMs: number;
  concurrency: number;
}

export interface ThroughputRun {
  polls: number;
  pollsPerSecond: number;
  workerCpuMsPerPoll: number;
  cpu: CpuShares;
  workerPeakRssBytes: number;
  workerLog: Map<string, number>;
}

/** Long actions, so nothing completes while the worker is measured. */
const HOUR_MS = 3_600_000;

/**
 * One saturated run on a fresh worker process and prefix: polls/s and CPU per poll over a steady
 * window after a warm-up. Polls are counted where they land, at the simulator.
 */
export async function runThroughput(
  env: BenchEnvironment,
  settings: ThroughputSettings,
  run: number,
): Promise<ThroughputRun> {
  const prefix = env.newPrefix(`throughput${run}`);
  const interval = `${settings.pollIntervalMs}ms`;
  const workerEnv = env.configEnv(prefix, {
    POLL_MIN_INTERVAL: interval,
    POLL_MAX_INTERVAL: interval,
    WORKER_CONCURRENCY: String(settings.concurrency),
  });
  const producer = env.producer(prefix);
  const worker = await env.startWorker(prefix, workerEnv);
  try {
    const actions = new ActionFactory(env.simulator, seededRandom(run)).start(
      Array.from({ length: settings.watches }, () => ({ durationMs: 2 * HOUR_MS })),
    );
    await watchActions(producer.watches, actions);
    await sleep(settings.warmupMs);
    const requestsBefore = env.simulator.stats().totalRequests;
    const before = await readCpu(worker, env.redis);
    await sleep(settings.windowMs);
    const after = await readCpu(worker, env.redis);
    const polls = env.simulator.stats().totalRequests - requestsBefore;
    const cpu = cpuBetween(before, after);
    return {
      polls,
      pollsPerSecond: polls / (cpu.elapsedMs / 1000),
      workerCpuMsPerPoll: cpu.workerCpuMs / Math.max(1, polls),
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
