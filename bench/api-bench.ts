import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { redisVariables } from '../src/config/redis-target.js';
import { type ApiRun, type ApiSettings, runApi } from './api/api-run.js';
import { parseModeArgs, positiveInteger, positiveNumber, UsageError } from './support/args.js';
import { BenchEnvironment } from './support/bench-environment.js';
import { formatBytes, formatInteger, formatMs, formatNumber, MIB_BYTES } from './support/format.js';
import { describeMachine, type Machine } from './support/machine.js';
import { markdownTable } from './support/markdown.js';
import { writeResultsSection } from './support/results-file.js';

export const API_USAGE = `usage: npm run bench -- --api [options]

Runs one \`actionwatch serve --with-worker\` (batched observation) against the in-process simulator
and Redis at REDIS_URL, opens many long-polls (GET /v1/watches/{id}/wait, one per watched action)
and SSE streams (GET /v1/events), and lets the actions end over a few minutes. Measures the
server's Redis connections (CLIENT LIST, by its sockets), wake-up latency (outcome recorded in the
stream → response headers at the client), events delivered per second, server RSS and CPU per
delivered event, and checks every answer and every stream.

  --waiters <n>      concurrent long-polls, one per watched action (default 5000)
  --streams <n>      concurrent SSE streams (default 500)
  --span <s>         seconds over which the actions end (default 180)
  --warmup <s>       seconds for every client to connect before the first action ends (default 30)
  --cli <path>       the dist/src/cli/main.js of the build to measure (default this build), e.g.
                     that of a worktree of an earlier commit, for a before/after comparison
  --section <name>   with --write, the RESULTS.md section to replace (default api)
  --write            record the run in bench/RESULTS.md
  -h, --help         show this help`;

const OPTIONS = {
  api: { type: 'boolean' },
  waiters: { type: 'string' },
  streams: { type: 'string' },
  span: { type: 'string' },
  warmup: { type: 'string' },
  cli: { type: 'string' },
  section: { type: 'string' },
  write: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const TARGETS = { connections: 10, wakeUpP95Ms: 250, rssBytes: 400 * MIB_BYTES };

/** The commit of the build measured: of this checkout, or of the one `--cli` points into. */
function buildCommit(cliMain: string | undefined): string {
  const where = cliMain === undefined ? process.cwd() : dirname(cliMain);
  try {
    return execFileSync('git', ['-C', where, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function apiMain(args: string[], resultsFile: string): Promise<void> {
  const values = parseModeArgs(args, OPTIONS, API_USAGE);
  if (values === undefined) return;
  const text = (name: string) => values[name] as string | undefined;
  const section = text('section') ?? 'api';
  if (!/^[a-z0-9-]+$/.test(section))
    throw new UsageError(`--section must be letters, digits and - (got "${section}")`);
  const settings: ApiSettings = {
    waiters: positiveInteger('waiters', text('waiters'), 5000),
    streams: positiveInteger('streams', text('streams'), 500),
    spanMs: positiveNumber('span', text('span'), 180) * 1000,
    warmupMs: positiveNumber('warmup', text('warmup'), 30) * 1000,
    cliMain: text('cli'),
    latencyStreams: 10,
  };
  const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const env = await BenchEnvironment.start(redisVariables(process.env));
  try {
    const machine = await describeMachine(env.redis);
    const build = buildCommit(settings.cliMain);
    progress(`api: measuring ${build}`);
    const run = await runApi(env, settings, progress);
    const report = renderApiReport(machine, build, run);
    process.stdout.write(`\n${report}\n`);
    if (values.write) {
      writeResultsSection(
        resultsFile,
        section,
        `API benchmark (\`npm run bench -- --api\`): ${build}`,
        report,
      );
      progress(`wrote ${resultsFile}`);
    } else {
      progress('bench/RESULTS.md left as it was (pass --write to record this run)');
    }
  } finally {
    await env.close();
  }
}

const met = (ok: boolean) => (ok ? 'yes' : 'no');

export function renderApiReport(machine: Machine, build: string, run: ApiRun): string {
  const { settings } = run;
  const lines = [
    `- Build measured: ${build}`,
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory} RAM, ${machine.os}; Node ${machine.node}, Redis ${machine.redis} (same machine, as are the simulator and the clients)`,
    `- Run: ${machine.date}; 1-minute load average at the start ${formatNumber(machine.loadAtStart, 2)}`,
    '',
    `One \`actionwatch serve --with-worker\` (OBSERVE_MODE=batched) against the in-process simulator: ${formatInteger(settings.waiters)} watched actions ending evenly over ${formatMs(settings.spanMs)} after a ${formatMs(settings.warmupMs)} warm-up, ${formatInteger(settings.waiters)} concurrent long-polls (one per action, \`timeout=5m\`, re-polled after a 202) and ${formatInteger(settings.streams)} SSE streams, each client on its own socket. Wake-up latency: the outcome's stream entry time → the response headers at the client.`,
    '',
    markdownTable(
      ['Metric', 'Value', 'Target', 'Met?'],
      [
        [
          'Redis connections of the server process (max, CLIENT LIST)',
          `${run.redisConnectionsMax} (idle before the clients: ${run.redisConnectionsIdle})`,
          `≤ ${TARGETS.connections}`,
          met(run.redisConnectionsMax <= TARGETS.connections),
        ],
        [
          'Long-poll wake-up latency p50 / p95 / max',
          `${formatMs(run.wakeUp.p50)} / ${formatMs(run.wakeUp.p95)} / ${formatMs(run.wakeUp.max)}`,
          `p95 ≤ ${TARGETS.wakeUpP95Ms} ms`,
          met(run.wakeUp.p95 <= TARGETS.wakeUpP95Ms),
        ],
        [
          'Waits answered with their true outcome',
          `${formatInteger(run.answeredRight)} of ${formatInteger(settings.waiters)} (wrong ${run.answeredWrong}, unanswered ${run.unanswered}, re-polls after a 202 ${run.repolls})`,
          'all',
          met(run.answeredRight === settings.waiters),
        ],
        [
          'Streams that received every event, in order',
          `${formatInteger(run.streamsComplete)} of ${formatInteger(settings.streams)} (out of order ${run.outOfOrder}, reconnects ${run.streamReconnects})`,
          'all',
          met(run.streamsComplete === settings.streams && run.outOfOrder === 0),
        ],
        [
          'SSE delivery latency p50 / p95 / max (10 streams sampled)',
          `${formatMs(run.streamLatency.p50)} / ${formatMs(run.streamLatency.p95)} / ${formatMs(run.streamLatency.max)}`,
          '—',
          '—',
        ],
        [
          'Events delivered per second (stream events + answered waits)',
          `${formatInteger(run.eventsPerSecond)} /s (${formatInteger(run.delivered)} in ${formatMs(run.deliveryWindowMs)})`,
          '—',
          '—',
        ],
        [
          'Server peak RSS (every client connected; highest 1-s sample, when; at the end)',
          `${formatBytes(run.serverPeakRssBytes)} (${formatBytes(run.serverRssWithClientsBytes)}; ${formatBytes(run.serverRssHighestSampled.bytes)} at ${formatMs(run.serverRssHighestSampled.afterStartMs)}; ${formatBytes(run.serverRssAtEndBytes)})`,
          `≤ ${formatBytes(TARGETS.rssBytes)}`,
          met(run.serverPeakRssBytes <= TARGETS.rssBytes),
        ],
        [
          'Server CPU per delivered event',
          `${formatNumber(run.serverCpuMsPerEvent * 1000, 1)} µs (${formatInteger(run.serverCpuMs)} ms CPU in all)`,
          '—',
          '—',
        ],
        [
          'Server shutdown with every stream open (SIGTERM → exit; streams the server ended)',
          `${formatMs(run.shutdownMs)} (${formatInteger(run.streamsEndedAtShutdown)} of ${formatInteger(settings.streams)})`,
          '—',
          '—',
        ],
      ],
    ),
  ];
  if (run.feedMetrics.length > 0) {
    lines.push('', "The server's event feed series at the end:", '', '```', ...run.feedMetrics, '```');
  }
  if (run.serverLog.size > 0) {
    lines.push(
      '',
      markdownTable(
        ['Lines', 'Server log (LOG_LEVEL=warn)'],
        [...run.serverLog].map(([kind, count]) => [String(count), kind]),
      ),
    );
  }
  return lines.join('\n');
}
