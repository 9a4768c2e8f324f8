import { EXIT } from './cli-error.js';

/**
 * Runs a waiting command with a signal that SIGINT or SIGTERM aborts, and exits 130
 * (EXIT.interrupted) when the wait ended that way: only the wait stops, the watch or chain goes on.
 */
export async function interruptible(wait: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const interrupt = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    return await wait(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) return EXIT.interrupted;
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
