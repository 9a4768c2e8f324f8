import { EventStream } from '../notifications/event-stream.js';
import type { Redis } from '../support/redis.js';
import type { OutcomeStore } from './outcome-store.js';
import type { OutcomeRecord } from './watch.js';

export interface WaitOptions {
  /** Give up (resolve undefined) after this long; wait forever when absent. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves with a watch's outcome as soon as it is recorded. It reads the events stream for
 * promptness and re-checks the stored outcome after every block, so an outcome recorded before the
 * wait began, or trimmed from the stream, is never missed. Uses a connection of its own.
 */
export function waitForOutcome(
  redis: Redis,
  prefix: string,
  outcomes: OutcomeStore,
  watchId: string,
  options: WaitOptions = {},
): Promise<OutcomeRecord | undefined> {
  return waitForRecorded(redis, prefix, () => outcomes.get(watchId), options);
}

/**
 * The loop behind waitForOutcome and waitForChainOutcome: `read` the stored record, and between
 * reads block on the events stream (at most 5 s) so that a new event wakes the wait at once.
 */
export async function waitForRecorded<T>(
  redis: Redis,
  prefix: string,
  read: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T | undefined> {
  const blocking = redis.duplicate();
  blocking.on('error', () => {});
  const abort = () => blocking.disconnect();
  options.signal?.addEventListener('abort', abort, { once: true });
  const deadline =
    options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  try {
    const stream = new EventStream(blocking, prefix);
    let cursor = await stream.lastId();
    for (;;) {
      const stored = await read();
      if (stored !== undefined) return stored;
      options.signal?.throwIfAborted();
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      const events = await stream.waitAfter(cursor, Math.min(remaining, 5_000));
      for (const event of events) cursor = event.id;
    }
  } catch (error) {
    options.signal?.throwIfAborted();
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    blocking.disconnect();
  }
}
