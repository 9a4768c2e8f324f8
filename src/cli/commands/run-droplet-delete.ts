import { runTokenPurpose } from '../../config/config.js';
import { InputError } from '../../errors/input-error.js';
import { parseRunKey } from '../../runs/run-request.js';
import { parseDeletionRef } from '../../watches/watch-ref.js';
import { EXIT } from '../cli-error.js';
import { printJson, withRuntime } from '../context.js';
import { interruptible } from '../interruptible.js';
import { notice } from '../notice.js';
import { settingsFromFlags } from '../watch-input.js';
import { noticeWhenNoWorker, noWorkerMessage } from '../worker-presence.js';
import { CREATE_ONLY_FLAGS, type CreateFlags } from './run-droplet-create.js';
import { OUTCOME_EXIT_CODES } from './wait.js';

/** The flags another run takes that a delete refuses: it has no action parameters. */
const NOT_FOR_DELETE = [
  ...CREATE_ONLY_FLAGS,
  ['region', '--region'],
  ['param', '--param'],
  ['retryPending', '--retry-pending'],
] as const;

/**
 * `run droplet delete <dropletId>`: sends DELETE /v2/droplets/{id} (once per --key) and prints
 * one line `{started, recovered, alreadyGone, watch}` with its deletion watch; with --wait, waits
 * until GET /v2/droplets/{id} answers 404, prints the outcome's action (null: a delete has none)
 * and exits as `wait` does.
 */
export async function runDropletDelete(dropletId: string | undefined, flags: CreateFlags): Promise<void> {
  if (dropletId === undefined)
    throw new InputError('run droplet delete needs the droplet id: run droplet delete <dropletId>');
  for (const [flag, name] of NOT_FOR_DELETE)
    if (flags[flag] !== undefined) throw new InputError(`${name} is not for run droplet delete`);
  const ref = parseDeletionRef(dropletId, 'run droplet delete: dropletId');
  const key = parseRunKey(flags.key);
  const { timeoutMs, webhooks, tokenProfile } = await settingsFromFlags(flags);
  const tokenOptions = {
    tokenPurpose: runTokenPurpose(tokenProfile),
    ...(tokenProfile === undefined ? {} : { tokenProfile }),
  };
  const code = await withRuntime({ needsToken: true, ...tokenOptions }, async (runtime) => {
    const { ActionWatcher } = await import('../../library/action-watcher.js');
    const watcher = ActionWatcher.fromRuntime(runtime);
    if (flags.withWorker) await watcher.startWorker({ concurrency: 4 });
    return interruptible(
      async (signal) => {
        const result = await watcher.deleteDroplet(ref.resourceId, {
          signal,
          ...(key === undefined ? {} : { key }),
          ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
          ...(webhooks === undefined ? {} : { webhooks }),
          ...(tokenProfile === undefined ? {} : { tokenProfile }),
        });
        if (result.alreadyGone)
          notice(runtime.logger, `droplet ${ref.resourceId} was already gone (DigitalOcean answered 404)`);
        if (!flags.wait) {
          printJson({
            started: result.started,
            recovered: result.recovered,
            alreadyGone: result.alreadyGone,
            watch: result.watch,
          });
          return EXIT.ok;
        }
        if (!flags.withWorker)
          void noticeWhenNoWorker(
            runtime.watches.queueFor(tokenProfile),
            noWorkerMessage('watch', tokenProfile),
            runtime.logger,
            signal,
          );
        const record = await watcher.waitFor(result.watch, { signal });
        printJson(record.action);
        runtime.logger.info(
          { watchId: result.watch.id, outcome: record.outcome, reason: record.reason },
          `outcome: ${record.outcome}`,
        );
        return OUTCOME_EXIT_CODES[record.outcome];
      },
      { subject: 'watch', ...(flags.withWorker ? { worker: runtime } : {}) },
    );
  });
  process.exitCode = code;
}
