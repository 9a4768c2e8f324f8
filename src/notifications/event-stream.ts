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

/**
 * Reads `<prefix>:events`, the one stream every outcome is appended to. Blocking reads need a
 * connection of their own: pass a dedicated one (`redis.duplicate()`).
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
    const [entry] = (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    return entry?.[0] ?? '0-0';
  }

  /** Entries strictly after `afterId` (`0-0` for all), up to `count`. */
  async readAfter(afterId: string, count = 100): Promise<StreamEvent[]> {
    const entries = (await this.redis.xrange(this.key, `(${afterId}`, '+', 'COUNT', count)) as Array<
      [string, string[]]
    >;
    return entries.flatMap(([id, fields]) => toEvent(id, fields) ?? []);
  }

  /** Blocks up to `blockMs` for entries after `afterId`. */
  async waitAfter(afterId: string, blockMs: number, count = 100): Promise<StreamEvent[]> {
    const reply = (await this.redis.xread(
      'COUNT',
      count,
      'BLOCK',
      Math.max(1, Math.round(blockMs)),
      'STREAMS',
      this.key,
      afterId,
    )) as Array<[string, Array<[string, string[]]>]> | null;
    const entries = reply?.[0]?.[1] ?? [];
    return entries.flatMap(([id, fields]) => toEvent(id, fields) ?? []);
  }
}
