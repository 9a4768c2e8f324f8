import type { Command } from 'commander';
import { assertTargetAllowed } from '../../notifications/webhooks/address-guard.js';
import type { Runtime } from '../../runtime.js';
import { withRuntime } from '../context.js';
import { positiveInteger } from '../parsers.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('poll watched actions until SIGINT/SIGTERM, then finish in-flight polls and exit')
    .option(
      '--concurrency <n>',
      'polls in flight at once (default WORKER_CONCURRENCY, 50)',
      positiveInteger('--concurrency'),
    )
    .action(async (options: { concurrency?: number }) => {
      await withRuntime({ needsToken: true }, async (runtime) => {
        const worker = await runtime.startWorker({
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
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
