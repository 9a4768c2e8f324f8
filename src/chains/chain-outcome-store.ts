import type { Redis } from '../support/redis.js';
import { type OutcomeStoreOptions, recordOnce } from '../watches/outcome-store.js';
import type { ChainOutcomeRecord } from './chain.js';
import { chainOutcomeKey } from './chain-keys.js';

export type ChainOutcomeStoreOptions = OutcomeStoreOptions;

/**
 * Chain outcomes: written once, atomically with their `chain.*` event on `<prefix>:events` (the
 * entry's `watch` field holds the chain id). A cancel racing the worker's own finish, or a worker
 * re-running a finished step after a crash, changes nothing and gets the outcome that won.
 */
export class ChainOutcomeStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: ChainOutcomeStoreOptions,
  ) {}

  async record(record: ChainOutcomeRecord): Promise<{ created: boolean; record: ChainOutcomeRecord }> {
    // The watches' "set once, and append the event in the same atomic step" fits as it is.
    const { created, record: stored } = await recordOnce(
      this.redis,
      this.options,
      chainOutcomeKey(this.options.prefix, record.chain.id),
      record,
      { type: record.type, subjectId: record.chain.id },
    );
    return { created, record: stored };
  }

  async get(chainId: string): Promise<ChainOutcomeRecord | undefined> {
    const json = await this.redis.get(chainOutcomeKey(this.options.prefix, chainId));
    return json === null ? undefined : (JSON.parse(json) as ChainOutcomeRecord);
  }

  async getMany(chainIds: string[]): Promise<Array<ChainOutcomeRecord | undefined>> {
    if (chainIds.length === 0) return [];
    const values = await this.redis.mget(...chainIds.map((id) => chainOutcomeKey(this.options.prefix, id)));
    return values.map((json) => (json === null ? undefined : (JSON.parse(json) as ChainOutcomeRecord)));
  }
}
