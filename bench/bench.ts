import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { redisVariables } from '../src/config/redis-target.js';
import { renderReport } from './core/report.js';
import { CORE_OPTIONS, CORE_USAGE, coreSettings, runCoreBench } from './core-bench.js';
import { UsageError } from './support/args.js';
import { BenchEnvironment } from './support/bench-environment.js';
import { describeMachine } from './support/machine.js';
import { writeResultsSection } from './support/results-file.js';

/** bench/RESULTS.md in the source tree (this file runs from dist/bench/). */
const RESULTS_FILE = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));

const GENERAL_OPTIONS = {
  write: { type: 'boolean' },
  'profile-worker': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = `usage: npm run bench [-- options]

Measures one actionwatch worker process against the simulator and Redis at REDIS_URL, prints a
Markdown table of the results, and with --write records it in bench/RESULTS.md.
(npm run bench -- --fleet --help: the fleet benchmark of batched observation;
 npm run bench -- --api --help: many long-polls and event streams on one API server.)

  --write                     replace the core section of bench/RESULTS.md with this run
  --profile-worker <dir>      run every worker with --cpu-prof, writing its profile into <dir>
  -h, --help                  show this help

${CORE_USAGE}`;

function readCommandLine() {
  try {
    const { values } = parseArgs({
      options: { ...GENERAL_OPTIONS, ...CORE_OPTIONS },
      strict: true,
      allowPositionals: false,
    });
    return { values, settings: coreSettings(values) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--api')) {
    const { apiMain } = await import('./api-bench.js');
    await apiMain(process.argv.slice(2), RESULTS_FILE);
    return;
  }
  if (process.argv.includes('--fleet')) {
    const { fleetMain } = await import('./fleet-bench.js');
    await fleetMain(process.argv.slice(2), RESULTS_FILE);
    return;
  }
  const { values, settings } = readCommandLine();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const profileDir = values['profile-worker'];
  const env = await BenchEnvironment.start(
    redisVariables(process.env),
    profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  );
  // Ctrl-C mid-run still stops the workers and deletes this run's keys.
  const interrupt = (signal: NodeJS.Signals) => {
    process.stderr.write(`bench: ${signal}: stopping workers and deleting this run's keys\n`);
    void env.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const machine = await describeMachine(env.redis);
    if (machine.loadAtStart > 1) {
      process.stderr.write(
        `bench: the 1-minute load average is ${machine.loadAtStart.toFixed(2)}: other work on this machine will skew the figures\n`,
      );
    }
    const results = await runCoreBench(env, machine, settings, (line) =>
      process.stderr.write(`bench: ${line}\n`),
    );
    const report = renderReport(results);
    process.stdout.write(`\n${report}\n`);
    if (values.write) {
      writeResultsSection(RESULTS_FILE, 'core', 'Core benchmark (`npm run bench`)', report);
      process.stderr.write(`bench: wrote ${RESULTS_FILE}\n`);
    } else {
      process.stderr.write('bench: bench/RESULTS.md left as it was (pass --write to record this run)\n');
    }
  } finally {
    await env.close();
  }
}

try {
  await main();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`bench: ${message}\n`);
  if (error instanceof UsageError) process.stderr.write('Run with --help for the options.\n');
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
