import { CHAIN_EVENT_TYPES, type ChainEventType, type ChainOutcomeRecord } from '../chains/chain.js';
import { chainOutcomeRecordSchema } from '../chains/chain-record-schemas.js';
import type { Redis } from '../support/redis.js';
import { parseStoredRecord } from '../support/stored-record.js';
import { eventsKey } from '../watches/keys.js';
import { outcomeRecordSchema } from '../watches/outcome-record-schema.js';
import { isOutcome, type OutcomeRecord } from '../watches/watch.js';

interface EventEntry {
  /** The Redis stream entry id: ordered, usable as SSE `id` and for resuming. */
  id: string;
  /** The watch id, or for a chain's event the chain id (the entry's `watch` field). */
  watchId: string;
}

/** A watch's outcome, `action.<outcome>`. */
export interface WatchEvent extends EventEntry {
  subject: 'watch';
  type: OutcomeRecord['type'];
  record: OutcomeRecord;
}

/** A chain's outcome, `chain.completed|failed|cancelled`. */
export interface ChainEvent extends EventEntry {
  subject: 'chain';
  type: ChainEventType;
  record: ChainOutcomeRecord;
}

/** An entry of the events stream: what it is about (`subject`) types its record. */
export type StreamEvent = WatchEvent | ChainEvent;

function isChainEventType(type: string): type is ChainEventType {
  return (CHAIN_EVENT_TYPES as readonly string[]).includes(type);
}

function isWatchEventType(type: string): type is OutcomeRecord['type'] {
  return type.startsWith('action.') && isOutcome(type.slice('action.'.length));
}

/**
 * The event of a stream entry, its record checked against its schema; undefined for an entry
 * that is not one (no data, a type no writer uses, a record of the wrong shape), which readers
 * skip as they always have.
 */
function toEvent(key: string, id: string, fields: string[]): StreamEvent | undefined {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const data = map.get('data');
  const type = map.get('type') ?? '';
  if (data === undefined) return undefined;
  const watchId = map.get('watch') ?? '';
  const where = `${key} ${id}`;
  try {
    if (isWatchEventType(type)) {
      return {
        id,
        subject: 'watch',
        type,
        watchId,
        record: parseStoredRecord(outcomeRecordSchema, where, data),
      };
    }
    if (isChainEventType(type)) {
      return {
        id,
        subject: 'chain',
        type,
        watchId,
        record: parseStoredRecord(chainOutcomeRecordSchema, where, data),
      };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Orders two stream entry ids (`<ms>-<seq>`): negative when `a` comes first. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs === bMs ? aSeq - bSeq : aMs - bMs;
}

/** The Redis time (ms) at which a stream entry was added, from its id. */
export function streamIdTime(id: string): number {
  return Number(id.split('-')[0]) || 0;
}

type Entries = Array<[string, string[]]>;

/**
 * Reads `<prefix>:events`, the one stream every outcome is appended to. Blocking reads hold their
 * connection: the process's one EventFeed owns the connection that makes them.
 */
export class EventStream {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = eventsKey(prefix);
  }

  /** The id of the newest entry, or `0-0`: read after it to see only what comes next. */
  async lastId(): Promise<string> {
    const [entry] = (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1)) as Entries;
    return entry?.[0] ?? '0-0';
  }

  /** Entries strictly after `afterId` (`0-0` for all), up to `count`. */
  async readAfter(afterId: string, count = 100): Promise<StreamEvent[]> {
    const entries = (await this.redis.xrange(this.key, `(${afterId}`, '+', 'COUNT', count)) as Entries;
    return entries.flatMap(([id, fields]) => toEvent(this.key, id, fields) ?? []);
  }

  /**
   * The backlog after `afterId`, oldest first, a page of up to `count` at a time, until a page
   * comes back short (the end, as far as the stream held when it was read).
   */
  async *pagesAfter(afterId: string, count = 100): AsyncGenerator<StreamEvent[]> {
    let cursor = afterId;
    for (;;) {
      const page = await this.readAfter(cursor, count);
      yield page;
      const last = page.at(-1);
      if (last === undefined || page.length < count) return;
      cursor = last.id;
    }
  }

  /**
   * Blocks up to `blockMs` for entries after `afterId`. Also returns the id of the oldest entry
   * the stream held right after the read: when it is past `afterId`, entries may have been
   * trimmed before they could be read.
   */
  async waitAfter(
    afterId: string,
    blockMs: number,
    count = 100,
  ): Promise<{ events: StreamEvent[]; oldestId: string | undefined }> {
    const replies = await this.redis
      .pipeline()
      .xread('COUNT', count, 'BLOCK', Math.max(1, Math.round(blockMs)), 'STREAMS', this.key, afterId)
      .xrange(this.key, '-', '+', 'COUNT', 1)
      .exec();
    const [read, oldest] = replies ?? [];
    if (read?.[0]) throw read[0];
    if (oldest?.[0]) throw oldest[0];
    const entries = (read?.[1] as Array<[string, Entries]> | null)?.[0]?.[1] ?? [];
    return {
      events: entries.flatMap(([id, fields]) => toEvent(this.key, id, fields) ?? []),
      oldestId: (oldest?.[1] as Entries | undefined)?.[0]?.[0],
    };
  }
}
