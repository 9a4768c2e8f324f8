import type { Redis } from 'ioredis';
import { EventStream } from '../notifications/event-stream.js';
import type { ChainOutcomeRecord } from './chain.js';
import type { ChainOutcomeStore } from './chain-outcome-store.js';

/**
 * Resolves with a chain's outcome as soon as it is recorded (undefined after `timeoutMs`), like
 * waitForOutcome for watches: the events stream for promptness, the stored outcome after every
 * block so nothing recorded before the wait (or trimmed from the stream) is missed.
 */
export async function waitForChainOutcome(
  redis: Redis,
  prefix: string,
  outcomes: ChainOutcomeStore,
  chainId: string,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ChainOutcomeRecord | undefined> {
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
      const stored = await outcomes.get(chainId);
      if (stored !== undefined) return stored;
      options.signal?.throwIfAborted();
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      const events = await stream.waitAfter(cursor, Math.min(remaining, 5_000));
      for (const event of events) cursor = event.id;
      // Our event's record is read from the store, whose type is the chain's.
    }
  } catch (error) {
    options.signal?.throwIfAborted();
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    blocking.disconnect();
  }
}
