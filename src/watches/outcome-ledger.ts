import type { Job } from 'bullmq';
import type { z } from 'zod';
import { LuaScript } from '../support/lua.js';
import { promoteIfDelayed } from '../support/promote-delayed.js';
import type { Redis } from '../support/redis.js';
import { parseStoredRecord, parseStoredRecordOrNone } from '../support/stored-record.js';

const RECORD_OUTCOME = new LuaScript(import.meta.url, 'record-outcome', 2);

export interface OutcomeStoreOptions {
  prefix: string;
  /** How long an outcome is kept after the watch ended. */
  retentionMs: number;
  /** Approximate cap on the events stream, so it cannot grow without bound. */
  eventsMaxLength: number;
}

export interface RecordResult<T> {
  /** False when an outcome was already recorded: `record` is then that earlier one. */
  created: boolean;
  record: T;
  /** The events stream entry id, when this call created it. */
  eventId: string | undefined;
}

/** What tells one kind of outcome (a watch's, a chain's) from another. */
export interface OutcomeSubject<T> {
  schema: z.ZodType<T>;
  /** record-outcome.lua's keys for a subject: its outcome key, then the events stream. */
  keys(prefix: string, id: string): [outcome: string, events: string];
  /** The subject's id and the event type its record is appended with (`type`, and the id as `watch`). */
  eventOf(record: T): { id: string; type: string };
}

/**
 * Outcomes in Redis, of watches or of chains: each written once, atomically with its event on
 * `<prefix>:events` (record-outcome.lua). A second record (a retried job, a cancel racing the
 * worker's own finish) changes nothing and gets the outcome that won. Records are checked against
 * the subject's schema on the way out.
 */
export class OutcomeLedger<T> {
  constructor(
    protected readonly redis: Redis,
    protected readonly options: OutcomeStoreOptions,
    private readonly subject: OutcomeSubject<T>,
  ) {}

  async record(record: T): Promise<RecordResult<T>> {
    const event = this.subject.eventOf(record);
    const keys = this.subject.keys(this.options.prefix, event.id);
    const [created, json, eventId] = (await RECORD_OUTCOME.run(this.redis, keys, [
      JSON.stringify(record),
      event.type,
      event.id,
      this.options.eventsMaxLength,
      Math.max(1000, this.options.retentionMs),
    ])) as [number, string, string];
    return {
      created: created === 1,
      record: parseStoredRecord(this.subject.schema, keys[0], json),
      eventId: eventId || undefined,
    };
  }

  async get(id: string): Promise<T | undefined> {
    const key = this.keyOf(id);
    return parseStoredRecordOrNone(this.subject.schema, key, await this.redis.get(key));
  }

  async getMany(ids: readonly string[]): Promise<Array<T | undefined>> {
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.keyOf(id));
    const values = await this.redis.mget(...keys);
    return values.map((json, index) =>
      parseStoredRecordOrNone(this.subject.schema, keys[index] as string, json),
    );
  }

  /**
   * Ends a subject as cancelled: records `cancelled()` unless an outcome is recorded already, and
   * then promotes its job (from `jobOf`), so a worker finishes it and delivers its notifications
   * now rather than at its next step. Resolves with the outcome that stands.
   */
  async cancel(id: string, cancelled: () => T, jobOf: () => Promise<Job | undefined>): Promise<T> {
    const existing = await this.get(id);
    if (existing !== undefined) return existing;
    const { record } = await this.record(cancelled());
    const job = await jobOf();
    // The cancel is recorded: a job that could not be promoted just ends at its next step, when
    // its worker reads that outcome.
    if (job !== undefined) await promoteIfDelayed(job).catch(() => false);
    return record;
  }

  /** Forget an outcome so the subject can be watched afresh (after timed_out or cancelled). */
  async forget(id: string): Promise<void> {
    await this.redis.del(this.keyOf(id));
  }

  private keyOf(id: string): string {
    return this.subject.keys(this.options.prefix, id)[0];
  }
}
