import type { Redis } from 'ioredis';
import { loadLua } from '../support/lua.js';
import { eventsKey } from '../watches/keys.js';
import type { ChainOutcomeRecord } from './chain.js';
import { chainOutcomeKey } from './chain-keys.js';

// The watches' script: "set once, and append the event in the same atomic step" fits as it is.
const RECORD_OUTCOME = loadLua(
  new URL('../watches/outcome-store.js', import.meta.url).href,
  'record-outcome',
);

export interface ChainOutcomeStoreOptions {
  prefix: string;
  retentionMs: number;
  eventsMaxLength: number;
}

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
    const [created, json] = (await this.redis.eval(
      RECORD_OUTCOME,
      2,
      chainOutcomeKey(this.options.prefix, record.chain.id),
      eventsKey(this.options.prefix),
      JSON.stringify(record),
      record.type,
      record.chain.id,
      this.options.eventsMaxLength,
      Math.max(1000, this.options.retentionMs),
    )) as [number, string, string];
    return { created: created === 1, record: JSON.parse(json) as ChainOutcomeRecord };
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
