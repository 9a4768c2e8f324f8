import type { Command } from 'commander';
import { assertTargetAllowed } from '../../notifications/webhooks/address-guard.js';
import type { Runtime } from '../../runtime.js';
import { withRuntime } from '../context.js';
import { port, positiveInteger } from '../parsers.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('poll watched actions until SIGINT/SIGTERM, then finish in-flight polls and exit')
    .option(
      '--concurrency <n>',
      'polls in flight at once (default WORKER_CONCURRENCY, 50)',
      positiveInteger('--concurrency'),
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus /metrics and /healthz on this port',
      port('--metrics-port'),
    )
    .option('--metrics-host <host>', 'address for --metrics-port', '127.0.0.1')
    .action(async (options: { concurrency?: number; metricsPort?: number; metricsHost: string }) => {
      const tokenPurpose = 'worker needs it to poll DigitalOcean';
      await withRuntime({ needsToken: true, tokenPurpose }, async (runtime) => {
        // prom-client and Fastify load only when asked for: a plain worker stays small.
        const metrics =
          options.metricsPort === undefined
            ? undefined
            : new (await import('../../metrics/metrics.js')).Metrics({ processMetrics: true });
        const worker = await runtime.startWorker({
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          ...(metrics === undefined ? {} : { metrics }),
        });
        // Chains wait on watches, so every worker process runs their steps too.
        const chainWorker = await runtime.startChainWorker();
        const metricsServer =
          metrics === undefined || options.metricsPort === undefined
            ? undefined
            : await (await import('../../http/metrics-server.js')).startMetricsServer(runtime, metrics, {
                port: options.metricsPort,
                host: options.metricsHost,
              });
        runtime.logger.info(
          {
            concurrency: options.concurrency ?? runtime.config.worker.concurrency,
            prefix: runtime.config.prefix,
          },
          'worker started (webhook deliveries too)',
        );
        await reportUnreachableTargets(runtime);
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        });
        runtime.logger.info({ signal }, 'stopping: finishing in-flight polls');
        await metricsServer?.close();
        await chainWorker.close();
        await worker.close();
        runtime.logger.info('worker stopped');
      });
    });
}

/** A configured target that resolves somewhere forbidden would fail every message: say so at once. */
async function reportUnreachableTargets(runtime: Runtime): Promise<void> {
  const { url, alertUrl, allowPrivate } = runtime.config.webhooks;
  const targets: Array<[string, string | undefined]> = [
    ['WEBHOOK_URL', url],
    ['ALERT_WEBHOOK_URL', alertUrl],
  ];
  for (const [name, target] of targets) {
    if (target === undefined) continue;
    await assertTargetAllowed(target, { allowPrivate }).catch((error: Error) =>
      runtime.logger.error({ variable: name, err: error.message }, `${name} cannot receive webhooks`),
    );
  }
}
