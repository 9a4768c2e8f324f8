import { runTokenPurpose } from '../../config/config.js';
import type { ActionWatcher } from '../../library/action-watcher.js';
import type { Runtime } from '../../runtime.js';
import type { Watch } from '../../watches/watch.js';
import { EXIT } from '../cli-error.js';
import { printJson, withRuntime } from '../context.js';
import { interruptible } from '../interruptible.js';
import { noticeWhenNoWorker, noWorkerMessage } from '../worker-presence.js';
import { OUTCOME_EXIT_CODES } from './wait.js';

export interface RunSessionFlags {
  withWorker?: boolean;
}

export interface RunSession {
  runtime: Runtime;
  watcher: ActionWatcher;
  /** Aborted on Ctrl-C: the start or wait stops, the watches go on in the workers. */
  signal: AbortSignal;
}

/**
 * What every `run` form shares around its own start: a runtime with the token it starts with
 * (the profile's, or DIGITALOCEAN_TOKEN), a worker in this process with --with-worker, Ctrl-C
 * handling, and the exit code `body` returns set as the process's.
 */
export async function inRunSession(
  flags: RunSessionFlags,
  tokenProfile: string | undefined,
  body: (session: RunSession) => Promise<number>,
): Promise<void> {
  const tokenOptions = {
    tokenPurpose: runTokenPurpose(tokenProfile),
    ...(tokenProfile === undefined ? {} : { tokenProfile }),
  };
  process.exitCode = await withRuntime({ needsToken: true, ...tokenOptions }, async (runtime) => {
    const { ActionWatcher } = await import('../../library/action-watcher.js');
    const watcher = ActionWatcher.fromRuntime(runtime);
    if (flags.withWorker) await watcher.startWorker({ concurrency: 4 });
    return interruptible((signal) => body({ runtime, watcher, signal }), {
      subject: 'watch',
      ...(flags.withWorker ? { worker: runtime } : {}),
    });
  });
}

/**
 * `--wait`: waits on every watch (saying once when no worker is alive to poll them), prints each
 * outcome's action and exits as `wait` does for the first one that did not complete.
 */
export async function waitForRun(
  session: RunSession,
  watches: Watch[],
  flags: RunSessionFlags,
  tokenProfile: string | undefined,
): Promise<number> {
  const { runtime, watcher, signal } = session;
  if (!flags.withWorker)
    void noticeWhenNoWorker(
      runtime.watches.queueFor(tokenProfile),
      noWorkerMessage('watch', tokenProfile),
      runtime.logger,
      signal,
    );
  const records = await Promise.all(watches.map((watch) => watcher.waitFor(watch, { signal })));
  for (const record of records) {
    printJson(record.action);
    runtime.logger.info(
      { watchId: record.watch.id, outcome: record.outcome, reason: record.reason },
      `outcome: ${record.outcome}`,
    );
  }
  const failed = records.find((record) => record.outcome !== 'completed');
  return failed === undefined ? EXIT.ok : OUTCOME_EXIT_CODES[failed.outcome];
}
