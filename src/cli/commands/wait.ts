import type { Command } from 'commander';
import type { Outcome } from '../../watches/watch.js';
import { EXIT } from '../cli-error.js';
import { printJson, withRuntime } from '../context.js';
import { interruptible } from '../interruptible.js';
import { watchStatus, withStatus } from '../status-line.js';
import { assertWebhooksAllowed } from '../watch-input.js';
import { noticeWhenNoWorker, noWorkerMessage } from '../worker-presence.js';
import {
  collect,
  requestsFromArgs,
  resolveActionRequests,
  tokenNeededFor,
  WATCH_KIND_HELP,
} from './watch.js';

interface WaitOptions {
  timeout?: string;
  webhook?: string[];
  on?: string;
  withWorker?: boolean;
  tokenProfile?: string;
}

export const OUTCOME_EXIT_CODES: Record<Outcome, number> = {
  completed: EXIT.ok,
  errored: EXIT.errored,
  not_found: EXIT.not_found,
  timed_out: EXIT.timed_out,
  cancelled: EXIT.cancelled,
};

export function registerWait(program: Command): void {
  program
    .command('wait')
    .description('watch an action (or join its watch), block until it ends, print the final action JSON')
    .argument('<kind>', WATCH_KIND_HELP)
    .argument(
      '<resourceId>',
      'the droplet or image id, volume or NFS share UUID, or IP address (with kind action: the action id)',
    )
    .argument('[actionId]', 'the action id, or `deleted` (droplet only): wait until the droplet is gone')
    .option('--timeout <duration>', 'give up after this long (exit 4, timed_out); default WATCH_TIMEOUT (6h)')
    .option('--webhook <url>', 'also POST the outcome to URL (repeatable)', collect)
    .option('--on <outcomes>', 'with --webhook: only these outcomes')
    .option('--with-worker', 'run a worker in this process too (for when none is running)')
    .option(
      '--token-profile <name>',
      'observe with the token in DIGITALOCEAN_TOKEN_<NAME> instead of DIGITALOCEAN_TOKEN',
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 completed, 2 errored, 3 not_found, 4 timed_out, 5 cancelled, 1 bad input or failure, 130 interrupted.',
    )
    .action(async (kind: string, resourceId: string, actionId: string | undefined, options: WaitOptions) => {
      const [given] = await requestsFromArgs(
        [kind, resourceId, actionId],
        options,
        'actionwatch wait <kind> <resourceId> <actionId> | wait action <actionId>',
      );
      if (given === undefined) return;
      const code = await withRuntime(
        {
          needsToken: options.withWorker === true,
          tokenPurpose: 'wait --with-worker needs it: the worker in this process polls DigitalOcean',
          ...(given.tokenProfile === undefined ? {} : { tokenProfile: given.tokenProfile }),
          ...tokenNeededFor(kind, options.tokenProfile, 'wait'),
        },
        async (runtime) => {
          const [request = given] = await resolveActionRequests(runtime, [given]);
          await assertWebhooksAllowed([request], runtime.config.webhooks.allowPrivate);
          if (options.withWorker) await runtime.startWorker({ concurrency: 4 });
          const { watch } = await runtime.watches.watch(request);
          const queue = runtime.watches.queueFor(request.tokenProfile);
          return interruptible(
            async (signal) => {
              if (!options.withWorker)
                void noticeWhenNoWorker(
                  queue,
                  noWorkerMessage('watch', request.tokenProfile),
                  runtime.logger,
                  signal,
                );
              // Elapsed, polls and eta on stderr while it waits, when stderr is a terminal.
              const record = await withStatus(
                runtime.logger,
                async () => {
                  const now = await runtime.watches.get(watch.id);
                  return now === undefined ? undefined : [watchStatus(now, Date.now())];
                },
                signal,
                () => runtime.waitForOutcome(watch.id, { signal }),
              );
              if (record === undefined) return EXIT.failure;
              printJson(record.action);
              runtime.logger.info(
                { watchId: watch.id, outcome: record.outcome, reason: record.reason },
                `outcome: ${record.outcome}`,
              );
              return OUTCOME_EXIT_CODES[record.outcome];
            },
            { subject: 'watch', ...(options.withWorker ? { worker: runtime } : {}) },
          );
        },
      );
      process.exitCode = code;
    });
}
