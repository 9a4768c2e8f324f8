import { TokenRefusedError } from '../errors/token-refused-error.js';
import type { Runtime, TokenRejection } from '../runtime.js';
import { EXIT } from './cli-error.js';

export interface InterruptibleOptions {
  /** What goes on in the workers when the wait is interrupted: a watch or a chain. */
  subject: 'watch' | 'chain';
  /**
   * With --with-worker, the Runtime running this command's only worker: when DigitalOcean refuses
   * its token the wait can never end, so it ends at once.
   */
  worker?: Runtime;
}

/**
 * Runs a waiting command with a signal that SIGINT or SIGTERM aborts; then it says so and exits
 * 130 (EXIT.interrupted): only the wait stops, the watch or chain goes on. The signal also aborts
 * when the wait returns, for whatever runs beside it.
 */
export async function interruptible(
  wait: (signal: AbortSignal) => Promise<number>,
  options: InterruptibleOptions,
): Promise<number> {
  const controller = new AbortController();
  let rejection: TokenRejection | undefined;
  const interrupt = () => controller.abort(new Error('interrupted'));
  const rejected = (refused: TokenRejection) => {
    rejection = refused;
    controller.abort(new Error('token rejected'));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  options.worker?.on('token-rejected', rejected);
  // Its first poll may have been refused already.
  if (options.worker?.tokenRejection !== undefined) rejected(options.worker.tokenRejection);
  try {
    return await wait(controller.signal);
  } catch (error) {
    if (rejection !== undefined) throw tokenRejectedError(rejection, options.subject);
    if (!controller.signal.aborted) throw error;
    process.stderr.write(`actionwatch: interrupted; the ${options.subject} goes on in the workers\n`);
    return EXIT.interrupted;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    options.worker?.off('token-rejected', rejected);
    controller.abort(new Error('done'));
  }
}

function tokenRejectedError(rejection: TokenRejection, subject: 'watch' | 'chain'): TokenRefusedError {
  const { variable, status } = rejection;
  const work = subject === 'watch' ? 'poll' : 'start or poll actions';
  return new TokenRefusedError(
    variable,
    status,
    `DigitalOcean refused ${variable} (${status ?? '401/403'}): the worker in this process cannot ${work}, so this wait would never end; set a valid token (the ${subject} is kept for a worker that has one)`,
  );
}
