import { loadConfig } from '../src/config/config.js';
import type { LatencyResult } from './core/latency-phase.js';
import { runLatency } from './core/latency-phase.js';
import { summarizeLatency } from './core/latency-summary.js';
import type { CoreResults, CoreSettings } from './core/report.js';
import { runThroughput, type ThroughputRun } from './core/throughput-phase.js';
import { runWaiting, type WaitingResult } from './core/waiting-phase.js';
import { positiveInteger, positiveNumber, subset } from './support/args.js';
import type { BenchEnvironment } from './support/bench-environment.js';
import { formatBytes, formatInteger, formatMs, formatNumber } from './support/format.js';
import type { Machine } from './support/machine.js';

export const CORE_PHASES = ['throughput', 'waiting', 'latency'] as const;
export type CorePhase = (typeof CORE_PHASES)[number];

/** The core benchmark's command-line options (node:util parseArgs form); all take a value. */
export const CORE_OPTIONS = {
  phases: { type: 'string' },
  actions: { type: 'string' },
  'time-scale': { type: 'string' },
  'arrival-span': { type: 'string' },
  waiting: { type: 'string' },
  'throughput-runs': { type: 'string' },
  'throughput-watches': { type: 'string' },
  warmup: { type: 'string' },
  window: { type: 'string' },
  concurrency: { type: 'string' },
} as const;

export const CORE_USAGE = `core benchmark options:
  --phases <list>             any of throughput,waiting,latency (default: all three)
  --actions <n>               actions in the latency mix (default 2000)
  --time-scale <k>            run the latency mix k times faster than real time (default 5)
  --arrival-span <s>          real-time seconds over which those actions start (default 300)
  --waiting <n>               watches waiting at once for the memory phase (default 10000)
  --throughput-runs <n>       repetitions of the throughput phase; the median is reported (default 3)
  --throughput-watches <n>    in-progress watches kept due in the throughput phase (default 1000)
  --warmup <s>, --window <s>  throughput warm-up and measuring window in seconds (default 5, 15)
  --concurrency <n>           WORKER_CONCURRENCY of the worker (default: the product's default)`;

export interface CoreBenchSettings extends CoreSettings {
  phases: CorePhase[];
}

type CoreValues = { [name in keyof typeof CORE_OPTIONS]?: string | undefined };

export function coreSettings(values: CoreValues): CoreBenchSettings {
  const concurrency = positiveInteger('concurrency', values.concurrency, loadConfig({}).worker.concurrency);
  return {
    phases: subset('phases', values.phases, CORE_PHASES),
    concurrency,
    throughput: {
      runs: positiveInteger('throughput-runs', values['throughput-runs'], 3),
      watches: positiveInteger('throughput-watches', values['throughput-watches'], 1000),
      pollIntervalMs: 50,
      warmupMs: positiveNumber('warmup', values.warmup, 5) * 1000,
      windowMs: positiveNumber('window', values.window, 15) * 1000,
      concurrency,
    },
    waiting: { watches: positiveInteger('waiting', values.waiting, 10_000), concurrency },
    latency: {
      actions: positiveInteger('actions', values.actions, 2000),
      timeScale: positiveNumber('time-scale', values['time-scale'], 5),
      arrivalSpanMs: positiveNumber('arrival-span', values['arrival-span'], 300) * 1000,
      minDurationMs: 5_000,
      maxDurationMs: 300_000,
      erroredShare: 0.1,
      slackMs: 1000,
      concurrency,
    },
  };
}

/**
 * Runs the chosen phases one after another against one simulator, each with its own worker
 * process and key prefix, reporting progress as it goes.
 */
export async function runCoreBench(
  env: BenchEnvironment,
  machine: Machine,
  settings: CoreBenchSettings,
  progress: (line: string) => void,
): Promise<CoreResults> {
  const began = performance.now();
  let throughput: ThroughputRun[] | undefined;
  let waiting: WaitingResult | undefined;
  let latency: LatencyResult | undefined;

  if (settings.phases.includes('throughput')) {
    throughput = [];
    for (let run = 1; run <= settings.throughput.runs; run++) {
      const result = await runThroughput(env, settings.throughput, run);
      throughput.push(result);
      progress(
        `throughput ${run}/${settings.throughput.runs}: ${formatInteger(result.pollsPerSecond)} polls/s, ${formatNumber(result.workerCpuMsPerPoll, 2)} ms worker CPU per poll`,
      );
    }
  }
  if (settings.phases.includes('waiting')) {
    progress(`waiting: enqueueing ${formatInteger(settings.waiting.watches)} watches`);
    waiting = await runWaiting(env, settings.waiting);
    progress(
      `waiting: ${formatInteger(waiting.polled.deltaBytes / waiting.watches)} B of Redis per watch after the first poll, worker peak RSS ${formatBytes(waiting.workerPeakRssBytes)}`,
    );
  }
  if (settings.phases.includes('latency')) {
    const { latency: config } = settings;
    const expectedMs = (config.arrivalSpanMs + config.maxDurationMs) / config.timeScale;
    progress(
      `latency: ${formatInteger(config.actions)} actions, time ÷ ${config.timeScale}, about ${formatMs(expectedMs)}`,
    );
    latency = await runLatency(env, config);
    const summary = summarizeLatency(latency, config);
    progress(`latency: p50 ${formatMs(summary.p50Ms)}, p95 ${formatMs(summary.p95Ms)} (compressed time)`);
  }
  return { machine, settings, throughput, waiting, latency, elapsedMs: performance.now() - began };
}
