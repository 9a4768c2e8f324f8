import { LuaScript } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import { outcomeKey, recordOutcomeKeys } from './keys.js';
import type { OutcomeRecord } from './watch.js';

const RECORD_OUTCOME = new LuaScript(import.meta.url, 'record-outcome', 2);

export interface OutcomeStoreOptions {
  prefix: string;
  /** How long an outcome is kept after the watch ended. */
  retentionMs: number;
  /** Approximate cap on the events stream, so it cannot grow without bound. */
  eventsMaxLength: number;
}

export interface RecordResult {
  /** False when an outcome was already recorded: `record` is then that earlier one. */
  created: boolean;
  record: OutcomeRecord;
  /** The events stream entry id, when this call created it. */
  eventId: string | undefined;
}

/**
 * Sets the outcome key to the record unless it holds one already, and appends the event (`type`,
 * and the watch or chain id as `watch`) to the events stream, in one atomic step. `keys` (outcome
 * key, events stream) come from recordOutcomeKeys or recordChainOutcomeKeys. Returns the record
 * that won: this one, or the one recorded earlier.
 */
export async function recordOnce<T>(
  redis: Redis,
  options: OutcomeStoreOptions,
  keys: [outcome: string, events: string],
  record: T,
  event: { type: string; subjectId: string },
): Promise<{ created: boolean; record: T; eventId: string | undefined }> {
  const [created, json, eventId] = (await RECORD_OUTCOME.run(redis, keys, [
    JSON.stringify(record),
    event.type,
    event.subjectId,
    options.eventsMaxLength,
    Math.max(1000, options.retentionMs),
  ])) as [number, string, string];
  return { created: created === 1, record: JSON.parse(json) as T, eventId: eventId || undefined };
}

/** Outcomes in Redis: written once, atomically with their event on `<prefix>:events`. */
export class OutcomeStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: OutcomeStoreOptions,
  ) {}

  async record(record: OutcomeRecord): Promise<RecordResult> {
    return recordOnce(
      this.redis,
      this.options,
      recordOutcomeKeys(this.options.prefix, record.watch.id),
      record,
      {
        type: record.type,
        subjectId: record.watch.id,
      },
    );
  }

  async get(watchId: string): Promise<OutcomeRecord | undefined> {
    const json = await this.redis.get(outcomeKey(this.options.prefix, watchId));
    return json === null ? undefined : (JSON.parse(json) as OutcomeRecord);
  }

  async getMany(watchIds: string[]): Promise<Array<OutcomeRecord | undefined>> {
    if (watchIds.length === 0) return [];
    const values = await this.redis.mget(...watchIds.map((id) => outcomeKey(this.options.prefix, id)));
    return values.map((json) => (json === null ? undefined : (JSON.parse(json) as OutcomeRecord)));
  }

  /** Forget an outcome so the action can be watched afresh (after timed_out or cancelled). */
  async forget(watchId: string): Promise<void> {
    await this.redis.del(outcomeKey(this.options.prefix, watchId));
  }
}
