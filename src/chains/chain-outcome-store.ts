import type { Redis } from '../support/redis.js';
import { OutcomeLedger, type OutcomeStoreOptions } from '../watches/outcome-ledger.js';
import type { ChainOutcomeRecord } from './chain.js';
import { recordChainOutcomeKeys } from './chain-keys.js';
import { chainOutcomeRecordSchema } from './chain-record-schemas.js';

export type ChainOutcomeStoreOptions = OutcomeStoreOptions;

/**
 * Chain outcomes: written once, atomically with their `chain.*` event on `<prefix>:events` (the
 * entry's `watch` field holds the chain id). A cancel racing the worker's own finish, or a worker
 * re-running a finished step after a crash, changes nothing and gets the outcome that won.
 */
export class ChainOutcomeStore extends OutcomeLedger<ChainOutcomeRecord> {
  constructor(redis: Redis, options: ChainOutcomeStoreOptions) {
    super(redis, options, {
      schema: chainOutcomeRecordSchema,
      keys: recordChainOutcomeKeys,
      eventOf: (record) => ({ id: record.chain.id, type: record.type }),
    });
  }
}
