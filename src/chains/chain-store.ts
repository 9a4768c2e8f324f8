import type { Redis } from '../support/redis.js';
import { parseStoredRecordOrNone } from '../support/stored-record.js';
import type { ChainRecord } from './chain.js';
import { chainIndexKey, chainKey } from './chain-keys.js';
import { chainRecordSchema } from './chain-record-schemas.js';

/**
 * Chain records in Redis. A record is created once (SET NX) and afterwards written only by the
 * worker holding the chain's job, so plain SETs never race. It is kept while the chain runs and
 * for the retention period after.
 */
export class ChainStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; retentionMs: number },
  ) {}

  async get(chainId: string): Promise<ChainRecord | undefined> {
    const key = chainKey(this.options.prefix, chainId);
    return parseStoredRecordOrNone(chainRecordSchema, key, await this.redis.get(key));
  }

  async getMany(chainIds: readonly string[]): Promise<Array<ChainRecord | undefined>> {
    if (chainIds.length === 0) return [];
    const keys = chainIds.map((id) => chainKey(this.options.prefix, id));
    const values = await this.redis.mget(...keys);
    return values.map((json, index) =>
      parseStoredRecordOrNone(chainRecordSchema, keys[index] as string, json),
    );
  }

  /** False when a chain with this id already exists (then nothing is written). */
  async create(record: ChainRecord): Promise<boolean> {
    const created = await this.redis.set(
      chainKey(this.options.prefix, record.id),
      JSON.stringify(record),
      'NX',
    );
    if (created === null) return false;
    await this.redis.zadd(chainIndexKey(this.options.prefix), 'NX', Date.parse(record.createdAt), record.id);
    return true;
  }

  async save(record: ChainRecord, options: { finished?: boolean } = {}): Promise<void> {
    const key = chainKey(this.options.prefix, record.id);
    const json = JSON.stringify({ ...record, updatedAt: new Date().toISOString() });
    if (options.finished) await this.redis.set(key, json, 'PX', Math.max(1000, this.options.retentionMs));
    else await this.redis.set(key, json);
  }

  /** Chain ids, newest first, created at or before `atOrBefore` (ms) when given. */
  async ids(limit: number, atOrBefore?: number): Promise<Array<{ id: string; score: number }>> {
    const max = atOrBefore === undefined ? '+inf' : String(atOrBefore);
    const flat = await this.redis.zrevrangebyscore(
      chainIndexKey(this.options.prefix),
      max,
      '-inf',
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const entries: Array<{ id: string; score: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      entries.push({ id: flat[i] as string, score: Number(flat[i + 1]) });
    return entries;
  }

  /** Forget index entries whose record expired. */
  async dropFromIndex(chainIds: string[]): Promise<void> {
    if (chainIds.length > 0) await this.redis.zrem(chainIndexKey(this.options.prefix), ...chainIds);
  }
}
