import type { Redis } from '../support/redis.js';
import { type WaitOptions, waitForRecorded } from '../watches/outcome-waiter.js';
import type { ChainOutcomeRecord } from './chain.js';
import type { ChainOutcomeStore } from './chain-outcome-store.js';

/**
 * Resolves with a chain's outcome as soon as it is recorded (undefined after `timeoutMs`), like
 * waitForOutcome for watches: the events stream for promptness, the stored outcome after every
 * block so nothing recorded before the wait (or trimmed from the stream) is missed.
 */
export function waitForChainOutcome(
  redis: Redis,
  prefix: string,
  outcomes: ChainOutcomeStore,
  chainId: string,
  options: WaitOptions = {},
): Promise<ChainOutcomeRecord | undefined> {
  return waitForRecorded(redis, prefix, () => outcomes.get(chainId), options);
}
