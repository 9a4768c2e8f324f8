import type { Command } from 'commander';
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
          'worker started',
        );
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
