import { InputError } from '../../errors/input-error.js';
import { parseRunKey } from '../../runs/run-request.js';
import { parseDeletionRef } from '../../watches/watch-ref.js';
import { EXIT } from '../cli-error.js';
import { printJson } from '../context.js';
import { notice } from '../notice.js';
import { settingsFromFlags } from '../watch-input.js';
import { CREATE_ONLY_FLAGS, type CreateFlags } from './run-droplet-create.js';
import { inRunSession, waitForRun } from './run-session.js';

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
  await inRunSession(flags, tokenProfile, async (session) => {
    const result = await session.watcher.deleteDroplet(ref.resourceId, {
      signal: session.signal,
      ...(key === undefined ? {} : { key }),
      ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
      ...(webhooks === undefined ? {} : { webhooks }),
      ...(tokenProfile === undefined ? {} : { tokenProfile }),
    });
    if (result.alreadyGone)
      notice(
        session.runtime.logger,
        `droplet ${ref.resourceId} was already gone (DigitalOcean answered 404)`,
      );
    if (!flags.wait) {
      printJson({
        started: result.started,
        recovered: result.recovered,
        alreadyGone: result.alreadyGone,
        watch: result.watch,
      });
      return EXIT.ok;
    }
    return waitForRun(session, [result.watch], flags, tokenProfile);
  });
}
