/**
 * One worker process of the fleet benchmark: `actionwatch worker` as an operator runs it (the
 * product's Runtime, configured by the environment), except that its request budget and planner
 * run on the benchmark's compressed clock, as the simulator does. With FLEET_BENCH_TRACE=<file>
 * it appends every planner round to that file (simulated seconds since the start, then the report).
 */
import { appendFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { CompressedClock, CompressedRuntime } from './compressed-time.js';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel });
const clock = CompressedClock.fromEnv(process.env);
const runtime = new CompressedRuntime(config, logger, clock);
await runtime.startWorker({ webhooks: false, apiClock: clock.now });
// The detection bound of every round that planned requests (simulated ms), reported on exit.
const bounds: number[] = [];
runtime.batching?.on('round', (report) => {
  if (report.passRequests > 0 && Number.isFinite(report.boundMs)) bounds.push(report.boundMs);
});
const trace = process.env.FLEET_BENCH_TRACE;
if (trace !== undefined) {
  runtime.batching?.on('round', (report) => {
    const seconds = ((clock.now() - clock.originMs) / 1000).toFixed(1);
    appendFileSync(trace, `${process.pid} ${seconds} ${JSON.stringify(report)}\n`);
  });
}
await new Promise<void>((resolve) => {
  process.once('SIGTERM', () => resolve());
  process.once('SIGINT', () => resolve());
});
await runtime.close();
process.stdout.write(`${JSON.stringify({ totals: runtime.batching?.totals ?? null, bounds })}\n`);
