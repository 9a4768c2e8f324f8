import type { EventFeed, WaitOptions } from '../notifications/event-feed.js';
import type { ChainOutcomeRecord } from './chain.js';
import type { ChainOutcomeStore } from './chain-outcome-store.js';

/**
 * Resolves with a chain's outcome as soon as it is recorded (undefined after `timeoutMs`), like
 * waitForOutcome for watches: woken by the chain's `chain.*` event on the process's event feed,
 * answered from the stored outcome.
 */
export function waitForChainOutcome(
  feed: EventFeed,
  outcomes: ChainOutcomeStore,
  chainId: string,
  options: WaitOptions = {},
): Promise<ChainOutcomeRecord | undefined> {
  return feed.waitFor({ kind: 'chain', id: chainId }, () => outcomes.get(chainId), options);
}
