import { loadLua } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import { eventsKey, outcomeKey } from './keys.js';
import type { OutcomeRecord } from './watch.js';

const RECORD_OUTCOME = loadLua(import.meta.url, 'record-outcome');

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
 * Sets `key` to the record unless it holds one already, and appends the event (`type`, and the
 * watch or chain id as `watch`) to `<prefix>:events`, in one atomic step. Returns the record that
 * won: this one, or the one recorded earlier.
 */
export async function recordOnce<T>(
  redis: Redis,
  options: OutcomeStoreOptions,
  key: string,
  record: T,
  event: { type: string; subjectId: string },
): Promise<{ created: boolean; record: T; eventId: string | undefined }> {
  const [created, json, eventId] = (await redis.eval(
    RECORD_OUTCOME,
    2,
    key,
    eventsKey(options.prefix),
    JSON.stringify(record),
    event.type,
    event.subjectId,
    options.eventsMaxLength,
    Math.max(1000, options.retentionMs),
  )) as [number, string, string];
  return { created: created === 1, record: JSON.parse(json) as T, eventId: eventId || undefined };
}

/** Outcomes in Redis: written once, atomically with their event on `<prefix>:events`. */
export class OutcomeStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: OutcomeStoreOptions,
  ) {}

  async record(record: OutcomeRecord): Promise<RecordResult> {
    return recordOnce(this.redis, this.options, outcomeKey(this.options.prefix, record.watch.id), record, {
      type: record.type,
      subjectId: record.watch.id,
    });
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
