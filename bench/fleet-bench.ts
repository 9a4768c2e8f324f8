import { loadConfig } from '../src/config/config.js';
import { redisVariables } from '../src/config/redis-target.js';
import type { ListOrder } from '../src/simulator/index.js';
import { createRedis } from '../src/support/redis.js';
import { hasRedisServer, RedisCluster } from '../test/support/redis-cluster.js';
import { type BaselineEstimate, replayDirectPolling, replayFixedPolling } from './fleet/baseline.js';
import { type FleetRun, runFleet } from './fleet/fleet-run.js';
import { SCENARIO_NAMES, type Scenario, type ScenarioName, scenario } from './fleet/scenarios.js';
import { type PlannedAction, planWorkload, type WorkloadSettings } from './fleet/workload.js';
import { parseModeArgs, positiveInteger, positiveNumber, UsageError } from './support/args.js';
import { formatBytes, formatInteger, formatMs, formatNumber, formatPercent } from './support/format.js';
import { describeMachine, type Machine } from './support/machine.js';
import { markdownTable } from './support/markdown.js';
import { writeResultsSection } from './support/results-file.js';
import { median, percentile } from './support/statistics.js';

export const FLEET_USAGE = `usage: npm run bench -- --fleet [options]

Runs, in batched mode against the simulator held to DigitalOcean's 250/min and 5,000/h on a
compressed clock, in each list order: a burst of 2,000 short actions, a busy account (600 watched
among 4,000 others arriving), a small fleet of 40 actions (beside doctl's 5 s poll, replayed), and
10,000 concurrent watches with other actions arriving all along (then replays one GET per poll at
the core's schedule over the same actions, and measures a sample of it for real).

  --scenarios <list>       comma-separated, of ${SCENARIO_NAMES.join(', ')} (default all)
  --watches <n>            watched actions of the "watches" scenario (default 10000)
  --time-scale <k>         simulated time runs k times faster than the wall clock (default 6)
  --workers <n>            worker processes sharing the budget (default 2)
  --order <order>          oldest-first, newest-first or both (one run after the other): the
                           simulator's list order (default both)
  --background <n>         other actions started per simulated second (default 0.5)
  --history <n>            finished actions on the account before the run (default 3000)
  --baseline-sample <n>    watches of the direct (one GET per poll) run measured for real; 0 skips it (default 500)
  --cluster                run on a Redis Cluster of three primaries that the bench starts itself
                           (redis-server and redis-cli on PATH) and stops afterwards; with
                           REDIS_CLUSTER_NODES set instead, on that cluster. Either way --write
                           records the run in the cluster section, beside the standalone one
  --write                  replace the fleet section of bench/RESULTS.md with this run
  -h, --help               show this help

With FLEET_BENCH_TRACE=<file> in the environment, every worker appends each planner round to <file>.`;

const OPTIONS = {
  fleet: { type: 'boolean' },
  scenarios: { type: 'string' },
  watches: { type: 'string' },
  'time-scale': { type: 'string' },
  workers: { type: 'string' },
  order: { type: 'string' },
  background: { type: 'string' },
  history: { type: 'string' },
  'baseline-sample': { type: 'string' },
  cluster: { type: 'boolean' },
  write: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const LIMITS = { perMinute: 250, perHour: 5_000 };
const TARGET_P95_MS = 60_000;
const TARGET_RATIO = 20;

interface FleetSettings {
  workload: WorkloadSettings;
  timeScale: number;
  workers: number;
  orders: ListOrder[];
  backgroundPerSecond: number;
  history: number;
  baselineSample: number;
  scenarios: ScenarioName[];
}

interface ScenarioRun {
  scenario: Scenario;
  order: ListOrder;
  run: FleetRun;
  /** doctl's fixed poll over the same actions, for the scenarios that have it as their peer. */
  peer: BaselineEstimate | undefined;
}

interface FleetResults {
  machine: Machine;
  settings: FleetSettings;
  /** Every scenario's runs, for the summary table (the watches scenario's too). */
  scenarioRuns: ScenarioRun[];
  /** One batched run per list order. */
  runs: Array<{ order: ListOrder; batched: FleetRun }>;
  /** One GET per poll at the core's schedule, replayed over every action. */
  replay: BaselineEstimate;
  /** The same, run for real (no rate limit) over the first actions of the mix. */
  sample: FleetRun | undefined;
  sampleReplay: BaselineEstimate | undefined;
}

function settingsFrom(values: Record<string, string | boolean | undefined>): FleetSettings {
  const text = (name: string) => values[name] as string | undefined;
  const order = text('order') ?? 'both';
  const scenarios = (text('scenarios') ?? SCENARIO_NAMES.join(',')).split(',').map((name) => name.trim());
  for (const name of scenarios) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--scenarios takes ${SCENARIO_NAMES.join(', ')} (got "${name}")`);
    }
  }
  if (order !== 'oldest-first' && order !== 'newest-first' && order !== 'both') {
    throw new UsageError(`--order must be oldest-first, newest-first or both (got "${order}")`);
  }
  const background = text('background') === undefined ? 0.5 : Number(text('background'));
  if (!Number.isFinite(background) || background < 0) {
    throw new UsageError(
      `--background must be a number of actions per second, 0 or more (got "${text('background')}")`,
    );
  }
  const sample = text('baseline-sample') === undefined ? 500 : Number(text('baseline-sample'));
  if (!Number.isSafeInteger(sample) || sample < 0) {
    throw new UsageError(
      `--baseline-sample must be a whole number, 0 or more (got "${text('baseline-sample')}")`,
    );
  }
  return {
    workload: {
      actions: positiveInteger('watches', text('watches'), 10_000),
      rampMs: 60_000,
      erroredShare: 0.05,
      sharedImageShare: 0.1,
      seed: 6,
    },
    timeScale: positiveNumber('time-scale', text('time-scale'), 6),
    workers: positiveInteger('workers', text('workers'), 2),
    orders: order === 'both' ? ['oldest-first', 'newest-first'] : [order],
    backgroundPerSecond: background,
    history: text('history') === undefined ? 3000 : positiveInteger('history', text('history'), 3000),
    baselineSample: sample,
    scenarios: scenarios as ScenarioName[],
  };
}

/** `npm run bench -- --fleet …`: runs, prints the table, and with --write records it. */
export async function fleetMain(args: string[], resultsFile: string): Promise<void> {
  const values = parseModeArgs(args, OPTIONS, FLEET_USAGE);
  if (values === undefined) return;
  const settings = settingsFrom(values);
  const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const cluster = values.cluster ? await startCluster(progress) : undefined;
  try {
    const redisEnv =
      cluster === undefined ? redisVariables(process.env) : { REDIS_CLUSTER_NODES: cluster.nodesVariable };
    const target = loadConfig(redisEnv).redis;
    const redis = createRedis(target, { connectionName: 'actionwatch-fleet-bench' });
    const machine = await describeMachine(redis).finally(() => redis.disconnect());
    const results = await runFleetBench(settings, machine, redisEnv, progress);
    const report = renderFleetReport(results);
    process.stdout.write(`\n${report}\n`);
    if (values.write) {
      if (target.kind === 'cluster') {
        writeResultsSection(
          resultsFile,
          'fleet-cluster',
          'Fleet benchmark on a Redis Cluster (`npm run bench -- --fleet --cluster`)',
          report,
        );
      } else {
        writeResultsSection(resultsFile, 'fleet', 'Fleet benchmark (`npm run bench -- --fleet`)', report);
      }
      progress(`wrote ${resultsFile}`);
    } else {
      progress('bench/RESULTS.md left as it was (pass --write to record this run)');
    }
  } finally {
    await cluster?.stop();
  }
}

/** The tests' cluster harness: three primaries without replicas, on free ports. */
async function startCluster(progress: (line: string) => void): Promise<RedisCluster> {
  if (!hasRedisServer) throw new UsageError('--cluster needs redis-server and redis-cli on PATH');
  const cluster = await RedisCluster.start({ primaries: 3, replicas: 0 });
  progress(`started a Redis Cluster of three primaries: ${cluster.nodesVariable}`);
  return cluster;
}

async function runFleetBench(
  settings: FleetSettings,
  machine: Machine,
  redisEnv: Record<string, string>,
  progress: (line: string) => void,
): Promise<FleetResults> {
  const scenarioRuns: ScenarioRun[] = [];
  for (const name of settings.scenarios) {
    if (name === 'watches') continue;
    const chosen = scenario(name, settings.workload.actions);
    for (const order of settings.orders) {
      progress(`${chosen.name}, ${order}: ${chosen.actions.length} watches, ${chosen.workers} workers`);
      const run = await runFleet(
        {
          mode: 'batched',
          actions: chosen.actions,
          timeScale: settings.timeScale,
          workers: chosen.workers,
          listOrder: order,
          backgroundPerSecond: chosen.backgroundPerSecond,
          history: chosen.history,
          rateLimit: LIMITS,
          redisEnv,
        },
        progress,
      );
      const peer =
        chosen.peerPollMs === undefined ? undefined : replayFixedPolling(chosen.actions, chosen.peerPollMs);
      scenarioRuns.push({ scenario: chosen, order, run, peer });
    }
  }
  if (!settings.scenarios.includes('watches')) {
    return {
      machine,
      settings,
      scenarioRuns,
      runs: [],
      replay: { requests: 0, latenciesMs: [] },
      sample: undefined,
      sampleReplay: undefined,
    };
  }
  const actions = planWorkload(settings.workload);
  const schedule = loadConfig({}).schedule;
  const common = {
    timeScale: settings.timeScale,
    workers: settings.workers,
    backgroundPerSecond: settings.backgroundPerSecond,
    history: settings.history,
    redisEnv,
  };
  const subset = everyNth(actions, settings.baselineSample);
  const runs: FleetResults['runs'] = [];
  let sample: FleetRun | undefined;
  for (const [index, order] of settings.orders.entries()) {
    progress(
      `batched run, ${order}: ${actions.length} watches, ${settings.workers} workers, time ×${settings.timeScale}`,
    );
    // The direct sample runs beside the first batched run (on a simulator and key prefix of its
    // own): it is light, and doing both at once saves a simulated hour of wall time.
    const withSample = index === 0 && subset.length > 0;
    if (withSample) progress(`direct sample alongside: ${subset.length} watches, one GET per poll, no limit`);
    const [batched, direct] = await Promise.all([
      runFleet({ ...common, listOrder: order, mode: 'batched', actions, rateLimit: LIMITS }, progress),
      withSample
        ? runFleet(
            { ...common, listOrder: order, mode: 'direct', actions: subset, workers: 1, rateLimit: false },
            () => {},
          )
        : Promise.resolve(undefined),
    ]);
    runs.push({ order, batched });
    scenarioRuns.push({
      scenario: scenario('watches', settings.workload.actions),
      order,
      run: batched,
      peer: undefined,
    });
    sample ??= direct;
  }
  const replay = replayDirectPolling(actions, schedule);
  const sampleReplay = subset.length === 0 ? undefined : replayDirectPolling(subset, schedule);
  return { machine, settings, scenarioRuns, runs, replay, sample, sampleReplay };
}

/** An evenly spread subset, so the sample has the whole mix's durations. */
function everyNth(actions: readonly PlannedAction[], count: number): PlannedAction[] {
  if (count === 0) return [];
  const step = Math.max(1, actions.length / count);
  const subset: PlannedAction[] = [];
  for (let i = 0; i < actions.length && subset.length < count; i += step)
    subset.push(actions[Math.floor(i)] as PlannedAction);
  return subset;
}

/** Issue 13's measurement of the code before it, for the table. */
const PREVIOUS: Record<ScenarioName, string> = {
  burst: 'p50 8 s, p95 34 s; 289 requests; no 429',
  busy: 'p95 16.7 s; 266 requests; no 429',
  small: 'p95 5.0 s at 1.6 requests per action (doctl: 4.5 s at 15.3)',
  watches: 'p50 11.6 / 18.2 s, p95 53.0 / 53.6 s, 0.42 requests per action; no 429',
};

/** One row per scenario and list order: the bound beside what was achieved, and the targets. */
function renderScenarioTable(scenarioRuns: readonly ScenarioRun[]): string {
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const rows = scenarioRuns.map(({ scenario: chosen, order, run, peer }) => {
    const latencies = run.detections.map((detection) => detection.latencyMs);
    const count = run.settings.actionCount;
    const wrong = run.detections.filter((detection) => !detection.right).length + run.missing;
    const p95 = percentile(latencies, 95);
    const bound = run.boundsMs.length === 0 ? Number.NaN : median(run.boundsMs);
    const checks: string[] = [];
    const { targets } = chosen;
    if (targets.p95Ms !== undefined)
      checks.push(`p95 ≤ ${formatMs(targets.p95Ms)}: ${verdict(p95 <= targets.p95Ms)}`);
    if (targets.maxRequests !== undefined)
      checks.push(
        `≤ ${formatInteger(targets.maxRequests)} requests: ${verdict(run.requests <= targets.maxRequests)}`,
      );
    if (targets.p95OfBound !== undefined) {
      const limit = bound * targets.p95OfBound;
      checks.push(`p95 ≤ ${targets.p95OfBound} × bound = ${formatMs(limit)}: ${verdict(p95 <= limit)}`);
    }
    let peerCell = '—';
    if (peer !== undefined && targets.peerRequestShare !== undefined) {
      const peerP95 = percentile(peer.latenciesMs, 95);
      const share = run.requests / peer.requests;
      peerCell = `doctl 5 s: p95 ${formatMs(peerP95)}, ${formatNumber(peer.requests / count, 1)} per action`;
      checks.push(`p95 ≤ doctl's: ${verdict(p95 <= peerP95)}`);
      checks.push(
        `≤ 1/10 of its requests (${formatNumber(share * 100, 1)} %): ${verdict(share <= targets.peerRequestShare)}`,
      );
    }
    checks.push(`0 × 429: ${verdict(run.rateLimited === 0)}`);
    checks.push(`outcomes right: ${verdict(wrong === 0)}`);
    return [
      chosen.title,
      order,
      Number.isNaN(bound) ? '—' : formatMs(bound),
      formatMs(percentile(latencies, 50)),
      formatMs(p95),
      formatMs(Math.max(...latencies)),
      `${formatInteger(run.requests)} (${formatNumber(run.requests / count, 3)} per action)`,
      formatInteger(run.rateLimited),
      peerCell,
      checks.join('; '),
      PREVIOUS[chosen.name],
    ];
  });
  const table = markdownTable(
    [
      'Scenario',
      'Lists',
      'Detection bound (median of rounds)',
      'p50',
      'p95',
      'max',
      'Requests',
      '429s',
      'Peer',
      'Targets',
      'Before (issue 13)',
    ],
    rows,
  );
  const seen = new Set<ScenarioName>();
  const setups = scenarioRuns
    .filter(({ scenario: chosen }) => !seen.has(chosen.name) && seen.add(chosen.name))
    .map(({ scenario: chosen }) => `- ${chosen.title}: ${chosen.setup}.`);
  return [
    table,
    '',
    'The detection bound is, per planning round, one read of every listing page holding watched actions in progress (and every watch only its own GET sees) at the request rate the budget allowed in that round; the column gives the median over the rounds of the run. Latencies are in simulated time, from the action’s end to its outcome recorded.',
    '',
    ...setups,
  ].join('\n');
}

function renderFleetReport(results: FleetResults): string {
  const { machine, settings } = results;
  const summary = `${renderScenarioTable(results.scenarioRuns)}\n\nTime is compressed ${formatNumber(settings.timeScale, 0)}× (see the setup below); the simulator holds one token to 250/min and 5,000/h, the workers keep 10 % headroom. Machine: ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}; Redis ${machine.redis}; ${machine.date.slice(0, 10)}.`;
  if (results.runs.length === 0) return summary;
  return `${summary}\n\n### ${results.settings.workload.actions.toLocaleString('en-US')} watches in detail\n\n${renderWatchesReport(results)}`;
}

function renderWatchesReport(results: FleetResults): string {
  const { runs, replay, sample, sampleReplay, settings, machine } = results;
  const count = (runs[0] as { batched: FleetRun }).batched.settings.actionCount;
  const replayPerAction = replay.requests / count;
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const columns = runs.map(({ batched }) => {
    const latencies = batched.detections.map((detection) => detection.latencyMs);
    const wrong = batched.detections.filter((detection) => !detection.right).length;
    const perAction = batched.requests / count;
    const ratio = replayPerAction / perAction;
    const p95 = percentile(latencies, 95);
    const missing = batched.missing > 0 ? ` (${batched.missing} missing)` : '';
    return [
      formatInteger(count),
      `${formatInteger(batched.detections.length - wrong)} of ${formatInteger(count)}${missing}: ${verdict(wrong === 0 && batched.missing === 0)}`,
      `${formatInteger(batched.requests)} in ${formatNumber(batched.simulatedSpanMs / 3_600_000, 2)} simulated h`,
      formatNumber(perAction, 3),
      formatNumber(replayPerAction, 1),
      `${formatNumber(ratio, 1)}×: ${verdict(ratio >= TARGET_RATIO)}`,
      formatMs(percentile(latencies, 50)),
      `${formatMs(p95)}: ${verdict(p95 <= TARGET_P95_MS)}`,
      formatMs(Math.max(...latencies)),
      batched.boundsMs.length === 0 ? '—' : formatMs(median(batched.boundsMs)),
      ...phaseCells(batched),
      `${formatInteger(batched.rateLimited)}: ${verdict(batched.rateLimited === 0)}`,
      `${formatBytes(batched.keysAtPeakBytes)} (${formatBytes(batched.keysAtPeakBytes / count)} per watch), of which batching ${formatBytes(batched.fleetKeysAtPeakBytes)}`,
      formatBytes(batched.redisPeakBytes - batched.redisBeforeBytes),
      `${formatNumber(batched.workerCpuMs / 1000, 1)} s over ${formatNumber(batched.wallSpanMs / 1000, 0)} s wall = ${formatNumber(batched.workerCores, 2)} cores; peak RSS ${formatBytes(batched.workerPeakRssBytes)}`,
    ];
  });
  const measures: Array<[string, string]> = [
    ['Watches (concurrent at peak)', ''],
    ['Outcomes right', 'all'],
    ['API requests, batched', ''],
    ['Requests per action, batched', ''],
    ['Requests per action, one GET per poll (replayed)', ''],
    ['Fewer requests per action than one GET per poll', `≥ ${TARGET_RATIO}×`],
    ['Detection latency p50', ''],
    ['Detection latency p95', '≤ 60 s'],
    ['Detection latency max', ''],
    ['Detection bound (median of the planning rounds)', ''],
    ['Detection latency p95, actions ending in the first 5 simulated minutes', ''],
    ['Detection latency p95, actions ending later', ''],
    ['429 responses', '0'],
    ["Redis memory of the run's keys with every watch enqueued (MEMORY USAGE)", ''],
    ['Redis server used_memory, peak − before (server-wide)', ''],
    [`Worker CPU (${settings.workers} worker processes together)`, ''],
  ];
  const rows = measures.map(([measure, target], index) => [
    measure,
    ...columns.map((column) => column[index] as string),
    target,
  ]);
  const table = markdownTable(['Measure', ...runs.map(({ order }) => `Lists ${order}`), 'Target'], rows);
  const lines = [table, ''];
  for (const { order, batched } of runs) {
    const routes = Object.entries(batched.byRoute)
      .sort((a, b) => b[1] - a[1])
      .map(([route, n]) => `${route} ${formatInteger(n)}`)
      .join('; ');
    const t = sumTotals(batched.totals);
    lines.push(
      `${order}: requests by route: ${routes}. Planner, all workers: ${formatInteger(t.rounds)} rounds (${formatInteger(t.shortRounds)} short of budget); due watches observed through the account listing ${formatInteger(t.viaAccountList)} times, through a resource's list ${formatInteger(t.viaResourceList)}, left to their own GET ${formatInteger(t.direct)}, held ${formatInteger(t.held)}; ${formatInteger(t.promoted)} jobs promoted; ${t.listFailures} list failures.`,
      '',
    );
  }
  lines.push(
    `One GET per poll at the core's schedule, replayed over the same ${formatInteger(count)} actions: ${formatInteger(replay.requests)} requests, detection p50 ${formatMs(percentile(replay.latenciesMs, 50))}, p95 ${formatMs(percentile(replay.latenciesMs, 95))}. At 5,000 requests an hour that is ${formatNumber(replay.requests / 5000, 1)} hours of one token's budget, so the baseline cannot run under the real limit: it is replayed (exactly the schedule the direct observer follows, without queueing), and a sample of it is run for real without a limit.`,
  );
  if (sample !== undefined && sampleReplay !== undefined) {
    const n = sample.settings.actionCount;
    const sampleLatencies = sample.detections.map((detection) => detection.latencyMs);
    const bad = sample.detections.filter((d) => !d.right).length + sample.missing;
    lines.push(
      '',
      `Direct sample, run for real beside the first batched run (one GET per poll, 1 worker, simulator without a limit): ${formatInteger(n)} of the actions spread over the mix, ${formatInteger(sample.requests)} requests = ${formatNumber(sample.requests / n, 1)} per action (the replay of the same actions says ${formatNumber(sampleReplay.requests / n, 1)}), detection p50 ${formatMs(percentile(sampleLatencies, 50))}, p95 ${formatMs(percentile(sampleLatencies, 95))}, ${bad} wrong or missing outcomes.`,
    );
  }
  lines.push(
    '',
    `Setup: ${formatInteger(count)} actions of both kinds (${mixSummary()}), durations 30 s to 1 h by type, ${formatPercent(settings.workload.erroredShare)} ending errored, all started within the first simulated minute and each watched from its start; ${formatInteger(settings.history)} finished actions already on the account and ${formatNumber(settings.backgroundPerSecond, 2)} other actions started per simulated second throughout, so list pages shift under every sweep; ${settings.workers} worker processes in batched mode sharing one budget of 250/min and 5,000/h (headroom 10 %). Time is compressed ${formatNumber(settings.timeScale, 0)}×: the simulator (action durations, timestamps and its rate-limit windows) and the workers' budgets and planner run on a clock ${formatNumber(settings.timeScale, 0)} times faster than the wall clock, and the poll schedule (POLL_MIN_INTERVAL, POLL_MAX_INTERVAL) is divided by the same factor, so every figure is in simulated time and the limits are DigitalOcean's own, per simulated minute and hour. CPU time does not compress: at ${formatNumber(settings.timeScale, 0)}× the start (${formatInteger(count)} watches registered and located within one simulated minute, on cores shared with the simulator and Redis) is ${formatNumber(settings.timeScale, 0)} times harder than it would be in real time. Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory}; Node ${machine.node}; Redis ${machine.redis} (${machine.redisTopology}); ${machine.date.slice(0, 10)}.`,
  );
  return lines.join('\n');
}

function sumTotals(totals: FleetRun['totals']) {
  const zero = {
    rounds: 0,
    shortRounds: 0,
    viaAccountList: 0,
    viaResourceList: 0,
    direct: 0,
    held: 0,
    promoted: 0,
    listFailures: 0,
  };
  return totals.reduce(
    (sum, t) => ({
      rounds: sum.rounds + t.rounds,
      shortRounds: sum.shortRounds + t.shortRounds,
      viaAccountList: sum.viaAccountList + t.viaAccountList,
      viaResourceList: sum.viaResourceList + t.viaResourceList,
      direct: sum.direct + t.direct,
      held: sum.held + t.held,
      promoted: sum.promoted + t.promoted,
      listFailures: sum.listFailures + t.listFailures,
    }),
    zero,
  );
}

function mixSummary(): string {
  return 'droplet reboots, power actions, resizes, rebuilds, restores; image conversions and transfers, some images transferring to several regions at once';
}

/** p95 by when actions ended: the first minutes carry the start-up of 10,000 watches at once. */
function phaseCells(run: FleetRun): string[] {
  return [(ms: number) => ms < 300_000, (ms: number) => ms >= 300_000].map((inPhase) => {
    const latencies = run.detections.filter((d) => inPhase(d.endedAfterMs)).map((d) => d.latencyMs);
    return `${formatMs(percentile(latencies, 95))} (${formatInteger(latencies.length)} actions)`;
  });
}
