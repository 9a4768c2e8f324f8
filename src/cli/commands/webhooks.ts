import type { Command } from 'commander';
import { InputError } from '../../errors/input-error.js';
import { printJson, withRuntime } from '../context.js';

export function registerWebhooks(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description('inspect and resend webhook messages whose retries ran out');

  webhooks
    .command('failed')
    .description(
      'list failed webhook messages as JSON Lines: id, webhookId, target, type, watchId, status, lastError, attempts, failedAt',
    )
    .action(async () => {
      await withRuntime({}, async (runtime) => {
        for await (const failed of runtime.deliveries().failed()) printJson(failed);
      });
    });

  webhooks
    .command('retry')
    .description('send failed messages again, from a fresh retry schedule, with the same webhook-id')
    .argument('[id]', 'a delivery id or webhook-id (msg_…) from `webhooks failed`')
    .option('--all', 'retry every failed message')
    .action(async (id: string | undefined, options: { all?: boolean }) => {
      if ((id === undefined) === (options.all !== true))
        throw new InputError('usage: actionwatch webhooks retry <id> | --all');
      await withRuntime({}, async (runtime) => {
        const deliveries = runtime.deliveries();
        const retried = id === undefined ? await deliveries.retryAll() : [await deliveries.retry(id)];
        for (const delivery of retried) printJson({ ...delivery, state: 'waiting' });
        runtime.logger.info({ retried: retried.length }, `${retried.length} webhook message(s) queued again`);
      });
    });
}
