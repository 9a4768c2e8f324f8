import { formatDuration } from '../../src/config/duration.js';
import type { CpuShares } from '../support/cpu-meter.js';
import {
  formatBytes,
  formatCores,
  formatInteger,
  formatKib,
  formatMs,
  formatNumber,
  formatPercent,
  formatSignedMs,
  MIB_BYTES,
} from '../support/format.js';
import type { Machine } from '../support/machine.js';
import { markdownTable } from '../support/markdown.js';
import { BUDGET_GROUP } from '../support/redis-memory.js';
import { median } from '../support/statistics.js';
import type { LatencyResult, LatencySettings } from './latency-phase.js';
import { type LatencySummary, summarizeLatency } from './latency-summary.js';
import type { ThroughputRun, ThroughputSettings } from './throughput-phase.js';
import type { MemorySnapshot, WaitingResult, WaitingSettings } from './waiting-phase.js';

const TARGETS = {
  pollsPerSecond: 1000,
  bytesPerWaitingWatch: 1.5 * 1024,
  workerRssBytes: 200 * MIB_BYTES,
  /** Detection within the poll interval at the action's age plus this much, at p95. */
  latencySlackMs: 1000,
} as const;

export interface CoreSettings {
  concurrency: number;
  throughput: ThroughputSettings;
  waiting: WaitingSettings;
  latency: LatencySettings;
}

export interface CoreResults {
  machine: Machine;
  settings: CoreSettings;
  throughput: ThroughputRun[] | undefined;
  waiting: WaitingResult | undefined;
  latency: LatencyResult | undefined;
  elapsedMs: number;
}

type Verdict = 'yes' | 'no' | '—';

interface Row {
  metric: string;
  value: string;
  target: string;
  met: Verdict;
  /** Why a target was missed, measured in this run. */
  why?: string;
}

const verdict = (ok: boolean): Verdict => (ok ? 'yes' : 'no');

/** CPU of everything on the machine that is not the worker, the simulator or Redis, in cores. */
function otherCores(cpu: CpuShares, cores: number): number {
  return Math.max(0, cpu.host * cores - cpu.worker - cpu.simulator - cpu.redis);
}

function throughputRows(runs: ThroughputRun[], machine: Machine): Row[] {
  const pollsPerSecond = median(runs.map((run) => run.pollsPerSecond));
  const cpuPerPoll = median(runs.map((run) => run.workerCpuMsPerPoll));
  const workerCores = median(runs.map((run) => run.cpu.worker));
  const each = runs.map((run) => formatInteger(run.pollsPerSecond)).join(', ');
  const met = pollsPerSecond >= TARGETS.pollsPerSecond;
  const reasons: string[] = [];
  if (!met) {
    const ceiling = 1000 / cpuPerPoll;
    reasons.push(
      `at ${formatNumber(cpuPerPoll, 2)} ms of worker CPU per poll one fully used core drives at most ${formatInteger(ceiling)} polls/s`,
    );
    if (workerCores < 0.9) {
      const others = median(runs.map((run) => otherCores(run.cpu, machine.cores)));
      reasons.push(
        `the worker got only ${formatCores(workerCores)}: the ${machine.cores} cores were shared with the simulator (${formatCores(median(runs.map((run) => run.cpu.simulator)))}), Redis (${formatCores(median(runs.map((run) => run.cpu.redis)))}) and other processes (${formatCores(others)})`,
      );
    }
  }
  return [
    {
      metric: `Polls per second, one worker process (median of ${runs.length} runs)`,
      value: `${formatInteger(pollsPerSecond)} /s (runs: ${each})`,
      target: `≥ ${formatInteger(TARGETS.pollsPerSecond)} /s`,
      met: verdict(met),
      ...(reasons.length === 0 ? {} : { why: `${reasons.join('; ')}.` }),
    },
    {
      metric: `Worker CPU per poll (median of ${runs.length} runs)`,
      value: `${formatNumber(cpuPerPoll, 2)} ms (worker busy ${formatCores(workerCores)})`,
      target: '—',
      met: '—',
    },
  ];
}

function biggestGroup(groups: Map<string, { bytes: number }>): [string, number] {
  return (
    [...groups]
      .map(([name, group]): [string, number] => [name, group.bytes])
      .sort((a, b) => b[1] - a[1])[0] ?? ['none', 0]
  );
}

function memoryWhy(snapshot: MemorySnapshot, n: number, machine: Machine): string {
  const [group, bytes] = biggestGroup(snapshot.groups);
  const { jobHash } = snapshot;
  const encoding =
    jobHash.encoding === 'hashtable'
      ? `; each job hash (${jobHash.fields} fields) is hashtable-encoded because its longest value, \`${jobHash.longestField}\` at ${formatInteger(jobHash.longestValueBytes)} B, exceeds hash-max-listpack-value (${machine.redisHashMaxListpackValue}), and a hashtable costs far more per field than a listpack`
      : '';
  return `the ${group} hold ${formatInteger(bytes / n)} B per watch${encoding} (breakdown below).`;
}

/** MEMORY USAGE of the run's keys, the request budget left out. */
function runKeysBytes(snapshot: MemorySnapshot): number {
  return [...snapshot.groups]
    .filter(([name]) => name !== BUDGET_GROUP)
    .reduce((sum, [, group]) => sum + group.bytes, 0);
}

/**
 * On a quiet Redis the used_memory delta runs a few per cent above MEMORY USAGE (the keyspace's
 * own tables); far apart, other clients changed the server's memory during the phase.
 */
const DISTURBED_GAP = 0.15;

function usedMemoryGap(snapshot: MemorySnapshot): number {
  return snapshot.deltaBytes / runKeysBytes(snapshot) - 1;
}

function waitingRows(result: WaitingResult, machine: Machine): Row[] {
  const n = result.watches;
  const rows: Row[] = [];
  for (const [label, snapshot] of [
    ['after its first poll (steady state)', result.polled],
    ['just enqueued, before any poll', result.enqueued],
  ] as const) {
    const disturbed = Math.abs(usedMemoryGap(snapshot)) > DISTURBED_GAP;
    const perWatch = (disturbed ? runKeysBytes(snapshot) : snapshot.deltaBytes) / n;
    const met = perWatch <= TARGETS.bytesPerWaitingWatch;
    const source = disturbed
      ? ', by MEMORY USAGE: other clients moved used_memory during the phase, and MEMORY USAGE reads a few per cent low'
      : '';
    rows.push({
      metric: `Redis bytes per waiting watch, ${label}`,
      value: `${formatInteger(perWatch)} B (${formatKib(perWatch)}${source})`,
      target: `≤ ${formatInteger(TARGETS.bytesPerWaitingWatch)} B (1.5 KiB)`,
      met: verdict(met),
      ...(met ? {} : { why: memoryWhy(snapshot, n, machine) }),
    });
  }
  const met = result.workerPeakRssBytes < TARGETS.workerRssBytes;
  rows.push({
    metric: `Worker peak RSS, ${formatInteger(n)} watches waiting (RSS once they wait)`,
    value: `${formatBytes(result.workerPeakRssBytes)} (${formatBytes(result.workerRssBytes)})`,
    target: `< ${formatBytes(TARGETS.workerRssBytes)}`,
    met: verdict(met),
    ...(met
      ? {}
      : {
          why: `the idle worker already held ${formatBytes(result.workerIdleRssBytes)}; the peak came while it made the first polls of all ${formatInteger(n)} watches, and ${formatBytes(result.workerRssBytes)} were still resident once they all waited.`,
        }),
  });
  return rows;
}

/** The worker's highest RSS while polling flat out or through the latency mix, where it peaks. */
function loadedRssRow(results: CoreResults): Row[] {
  const peaks = [
    ...(results.throughput ?? []).map((run) => run.workerPeakRssBytes),
    ...(results.latency === undefined ? [] : [results.latency.workerPeakRssBytes]),
  ];
  if (peaks.length === 0) return [];
  return [
    {
      metric: 'Worker peak RSS under polling load (throughput and latency phases)',
      value: formatBytes(Math.max(...peaks)),
      target: '—',
      met: '—',
    },
  ];
}

function latencyRows(summary: LatencySummary, settings: LatencySettings): Row[] {
  const met = summary.excessP95Ms <= TARGETS.latencySlackMs && summary.missing === 0;
  const scale = settings.timeScale === 1 ? '' : ` (time ÷ ${settings.timeScale})`;
  return [
    {
      metric: 'API requests per action',
      value: `${formatNumber(summary.requestsPerAction, 1)} (polls per watch ${formatNumber(summary.pollsPerWatch, 1)})`,
      target: '—',
      met: '—',
    },
    {
      metric: `Detection latency p50 / p95${scale}`,
      value: `${formatMs(summary.p50Ms)} / ${formatMs(summary.p95Ms)}`,
      target: '—',
      met: '—',
    },
    {
      metric: `Detection latency beyond the poll interval at the action's age, p95${scale}`,
      value: `${formatSignedMs(summary.excessP95Ms)} (${formatPercent(summary.withinShare)} of actions within +1 s)`,
      target: `≤ +${formatMs(TARGETS.latencySlackMs)}`,
      met: verdict(met),
      ...(met
        ? {}
        : {
            why:
              summary.missing > 0
                ? `${formatInteger(summary.missing)} watches recorded no outcome in time.`
                : `the p95 detection came ${formatMs(summary.excessP95Ms)} after the interval: see the latency by age below.`,
          }),
    },
  ];
}

function machineSection(machine: Machine, elapsedMs: number): string {
  return [
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory} RAM, ${machine.os}`,
    `- Node ${machine.node}, Redis ${machine.redis} with hash-max-listpack-value ${machine.redisHashMaxListpackValue} (same machine, as is the simulator)`,
    `- Run: ${machine.date}, ${formatMs(elapsedMs)} in all; 1-minute load average at the start ${formatNumber(machine.loadAtStart, 2)}`,
  ].join('\n');
}

function throughputDetails(runs: ThroughputRun[], settings: ThroughputSettings, machine: Machine): string {
  const rows = runs.map((run, index) => [
    String(index + 1),
    formatInteger(run.polls),
    formatInteger(run.pollsPerSecond),
    formatNumber(run.workerCpuMsPerPoll, 2),
    formatNumber(run.cpu.worker, 2),
    formatNumber(run.cpu.simulator, 2),
    formatNumber(run.cpu.redis, 2),
    formatNumber(otherCores(run.cpu, machine.cores), 2),
    formatPercent(run.cpu.host),
    formatBytes(run.workerPeakRssBytes),
  ]);
  const others = median(runs.map((run) => otherCores(run.cpu, machine.cores)));
  const contention =
    others > 0.2
      ? ` Other processes on the machine used ${formatCores(others)} (median) during the windows, so these figures are lower than this machine gives when quiet.`
      : '';
  return [
    `### Throughput runs`,
    '',
    `${formatInteger(settings.watches)} in-progress watches re-polled every ${settings.pollIntervalMs} ms (far more than one worker can serve), a fresh worker process per run, ${formatDuration(settings.warmupMs)} warm-up, then a ${formatDuration(settings.windowMs)} window. CPU columns are in cores (1.00 = one core busy all the window).${contention}`,
    '',
    markdownTable(
      [
        'Run',
        'Polls',
        'Polls/s',
        'Worker CPU ms/poll',
        'Worker',
        'Simulator',
        'Redis',
        'Other processes',
        'Machine busy',
        'Worker peak RSS',
      ],
      rows,
    ),
  ].join('\n');
}

function waitingDetails(result: WaitingResult): string {
  const n = result.watches;
  const names = [...new Set([...result.polled.groups.keys(), ...result.enqueued.groups.keys()])].sort(
    (a, b) => (result.polled.groups.get(b)?.bytes ?? 0) - (result.polled.groups.get(a)?.bytes ?? 0),
  );
  const perWatch = (bytes: number | undefined) => (bytes === undefined ? '—' : formatInteger(bytes / n));
  const rows = names.map((name) => [
    name,
    formatInteger(result.polled.groups.get(name)?.keys ?? result.enqueued.groups.get(name)?.keys ?? 0),
    perWatch(result.enqueued.groups.get(name)?.bytes),
    perWatch(result.polled.groups.get(name)?.bytes),
  ]);
  const gap = Math.max(
    ...[result.enqueued, result.polled].map((snapshot) => Math.abs(usedMemoryGap(snapshot))),
  );
  const disagreement =
    gap > DISTURBED_GAP
      ? ` The used_memory delta and MEMORY USAGE differ by up to ${formatPercent(gap)}: other clients of this Redis changed its memory meanwhile, so the MEMORY USAGE rows are the better figure here.`
      : '';
  rows.push([
    'all but the request budget (MEMORY USAGE)',
    '',
    perWatch(runKeysBytes(result.enqueued)),
    perWatch(runKeysBytes(result.polled)),
  ]);
  rows.push([
    'used_memory delta, request budget excluded',
    '',
    perWatch(result.enqueued.deltaBytes),
    perWatch(result.polled.deltaBytes),
  ]);
  return [
    '### Redis memory per waiting watch',
    '',
    `${formatInteger(n)} watches of two-hour actions: enqueued in ${formatMs(result.enqueueMs)} with their first poll held back, then all promoted and polled once in ${formatMs(result.firstPollsMs)} and parked for an hour. Bytes per watch by key group (MEMORY USAGE of every key of the run, all elements sampled), beside the INFO used_memory delta. The request budget's windows count requests, not watches (bounded by the hourly limit), so they are left out of the per-watch figure; BullMQ's events stream is capped (about 10,000 entries), so its share per watch shrinks as watches grow. The worker idled at ${formatBytes(result.workerIdleRssBytes)} RSS before the watches came.${disagreement}`,
    '',
    markdownTable(['Key group', 'Keys', 'Just enqueued (B/watch)', 'After first poll (B/watch)'], rows),
  ].join('\n');
}

function latencyDetails(
  result: LatencyResult,
  summary: LatencySummary,
  settings: LatencySettings,
  machine: Machine,
): string {
  const k = settings.timeScale;
  const s = result.schedule;
  const rows = summary.buckets.map((bucket) => [
    bucket.label,
    formatInteger(bucket.actions),
    formatMs(bucket.intervalMs),
    formatMs(bucket.p50Ms),
    formatMs(bucket.p95Ms),
    formatPercent(bucket.withinShare),
  ]);
  const problems = [
    summary.missing > 0 ? `${formatInteger(summary.missing)} watches recorded no outcome` : '',
    summary.unexpectedOutcomes > 0
      ? `${formatInteger(summary.unexpectedOutcomes)} outcomes differed from the simulated result`
      : '',
  ].filter((text) => text !== '');
  return [
    '### Detection latency',
    '',
    `${formatInteger(settings.actions)} actions of both kinds (${formatPercent(settings.erroredShare)} ending errored), starting at random over ${formatDuration(settings.arrivalSpanMs)} and lasting ${formatDuration(settings.minDurationMs)} to ${formatDuration(settings.maxDurationMs)} (log-uniform; real time), each watched as it starts. **Time is compressed ${k}×**: the product's default schedule, the durations and the arrivals are all divided by ${k}, so the worker ran with POLL_MIN_INTERVAL=${s.minIntervalMs}ms, POLL_MAX_INTERVAL=${s.maxIntervalMs}ms, POLL_AGE_FACTOR=${s.ageFactor}, POLL_JITTER=${s.jitter}. Latencies below are in that compressed time; the +1 s allowance is not compressed (queueing, the poll and recording the outcome take real time). Latency = outcome \`finishedAt\` − simulated completion (start + duration, to the ms); the interval is \`baseInterval\` at the action's age at completion. The phase took ${formatMs(result.durationMs)}; the worker averaged ${formatCores(result.cpu.worker)} and peaked at ${formatBytes(result.workerPeakRssBytes)} RSS, while other processes on the machine used ${formatCores(otherCores(result.cpu, machine.cores))}.${problems.length > 0 ? ` Problems: ${problems.join('; ')}.` : ''}`,
    '',
    markdownTable(
      [
        'Age at completion (real time)',
        'Actions',
        'Interval (median)',
        'p50',
        'p95',
        'Within interval + 1 s',
      ],
      rows,
    ),
  ].join('\n');
}

function workerLogSection(results: CoreResults): string {
  const counts = new Map<string, number>();
  for (const log of [
    ...(results.throughput ?? []).map((run) => run.workerLog),
    results.waiting?.workerLog,
    results.latency?.workerLog,
  ]) {
    for (const [kind, count] of log ?? []) counts.set(kind, (counts.get(kind) ?? 0) + count);
  }
  if (counts.size === 0) return '';
  const rows = [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([kind, count]) => [formatInteger(count), kind]);
  return [
    '### Worker log (LOG_LEVEL=warn), by kind',
    '',
    markdownTable(['Lines', 'Level: message'], rows),
  ].join('\n');
}

/** The results as Markdown: the summary table, why any target was missed, then each phase's details. */
export function renderReport(results: CoreResults): string {
  const { machine, settings } = results;
  const latencySummary =
    results.latency === undefined ? undefined : summarizeLatency(results.latency, settings.latency);
  const rows = [
    ...(results.throughput === undefined ? [] : throughputRows(results.throughput, machine)),
    ...(results.waiting === undefined ? [] : waitingRows(results.waiting, machine)),
    ...loadedRssRow(results),
    ...(latencySummary === undefined ? [] : latencyRows(latencySummary, settings.latency)),
  ];
  const misses = rows.filter((row) => row.why !== undefined);
  const table = markdownTable(
    ['Metric', 'Value', 'Target', 'Met?'],
    rows.map((row) => {
      const note = row.why === undefined ? '' : ` (note ${misses.indexOf(row) + 1})`;
      return [row.metric, row.value, row.target, `${row.met}${note}`];
    }),
  );
  const sections = [
    machineSection(machine, results.elapsedMs),
    `One worker process (\`actionwatch worker\`, OBSERVE_MODE=direct: one GET per poll, WORKER_CONCURRENCY=${settings.concurrency}, LOG_LEVEL=warn, rate budget set out of the way) against the in-process DigitalOcean simulator without a rate limit; its CPU and RSS are read from /proc.`,
    table,
    misses.length === 0
      ? ''
      : misses.map((row, index) => `${index + 1}. ${row.metric}: ${row.why}`).join('\n'),
    results.throughput === undefined
      ? ''
      : throughputDetails(results.throughput, settings.throughput, machine),
    results.waiting === undefined ? '' : waitingDetails(results.waiting),
    results.latency === undefined || latencySummary === undefined
      ? ''
      : latencyDetails(results.latency, latencySummary, settings.latency, machine),
    workerLogSection(results),
  ];
  return sections.filter((section) => section !== '').join('\n\n');
}
