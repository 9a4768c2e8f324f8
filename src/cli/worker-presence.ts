import type { Logger } from '../logging/logger.js';
import { sleep } from '../support/sleep.js';
import { notice } from './notice.js';

/** A BullMQ queue: it knows the workers connected to it. */
export interface WorkedQueue {
  getWorkersCount(): Promise<number>;
}

/**
 * Says once, in plain words, when no worker serves `queue` (at the start of a wait or whenever
 * the last one goes away), and how to start one; the wait goes on. Looks every `everyMs` until
 * `signal` aborts.
 */
export async function noticeWhenNoWorker(
  queue: WorkedQueue,
  message: string,
  logger: Logger,
  signal: AbortSignal,
  everyMs = 5_000,
): Promise<void> {
  while (!signal.aborted) {
    const count = await queue.getWorkersCount().catch((error: Error) => {
      // CLIENT LIST may be refused (some managed Redis offers): then nothing can be said.
      logger.debug({ err: error.message }, 'cannot count workers');
      return undefined;
    });
    if (count === undefined || signal.aborted) return;
    if (count === 0) {
      notice(logger, message);
      return;
    }
    await sleep(everyMs, signal).catch(() => {});
  }
}

/** What to tell someone waiting on a queue that no worker serves. */
export function noWorkerMessage(subject: 'watch' | 'chain', tokenProfile?: string): string {
  const start =
    tokenProfile === undefined
      ? 'start one with `actionwatch worker` (DIGITALOCEAN_TOKEN set) on this Redis and prefix'
      : `start one with \`actionwatch worker\` and DIGITALOCEAN_TOKEN_${tokenProfile.toUpperCase()} set`;
  const serves = tokenProfile === undefined ? 'is running' : `serves token profile ${tokenProfile}`;
  return `no actionwatch worker ${serves}, so nothing moves this ${subject} on: ${start}, or run this command again with --with-worker; still waiting`;
}
