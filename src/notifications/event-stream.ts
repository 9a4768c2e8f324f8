import type { Redis } from '../support/redis.js';
import { eventsKey } from '../watches/keys.js';
import type { OutcomeRecord } from '../watches/watch.js';

export interface StreamEvent {
  /** The Redis stream entry id: ordered, usable as SSE `id` and for resuming. */
  id: string;
  type: string;
  watchId: string;
  record: OutcomeRecord;
}

function toEvent(id: string, fields: string[]): StreamEvent | undefined {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const data = map.get('data');
  if (data === undefined) return undefined;
  try {
    return {
      id,
      type: map.get('type') ?? '',
      watchId: map.get('watch') ?? '',
      record: JSON.parse(data) as OutcomeRecord,
    };
  } catch {
    return undefined;
  }
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
    return entries.flatMap(([id, fields]) => toEvent(id, fields) ?? []);
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
      events: entries.flatMap(([id, fields]) => toEvent(id, fields) ?? []),
      oldestId: (oldest?.[1] as Entries | undefined)?.[0]?.[0],
    };
  }
}
