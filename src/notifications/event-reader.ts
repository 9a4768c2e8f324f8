import { CHAIN_EVENT_TYPES } from '../chains/chain.js';
import { InputError } from '../errors/input-error.js';
import { OUTCOMES } from '../watches/watch.js';
import type { EventStream, StreamEvent } from './event-stream.js';

/** The types of `<prefix>:events` entries: every watch outcome, and every chain outcome. */
export const EVENT_TYPES: string[] = [
  ...OUTCOMES.map((outcome) => `action.${outcome}`),
  ...CHAIN_EVENT_TYPES,
];

const STREAM_ID = /^\d+(-\d+)?$/;

/** An entry id of the stream to resume after (`0` for the start), refused with its shape otherwise. */
export function parseStreamId(text: string, name: string): string {
  const id = text.trim();
  if (!STREAM_ID.test(id)) {
    throw new InputError(
      `${name} must be an event id from the stream, such as 1718000000000-0, or 0 for the start (got ${JSON.stringify(text)})`,
    );
  }
  return id;
}

/**
 * Event types from comma lists (`action.errored,chain.failed`); an outcome alone (`errored`)
 * means its `action.` type. Refuses an unknown type by name.
 */
export function parseEventTypes(lists: readonly string[], name: string): Set<string> {
  const types = lists
    .flatMap((list) => list.split(','))
    .map((type) => type.trim())
    .filter((type) => type !== '')
    .map((type) => (EVENT_TYPES.includes(`action.${type}`) ? `action.${type}` : type));
  const unknown = types.filter((type) => !EVENT_TYPES.includes(type));
  if (types.length === 0 || unknown.length > 0) {
    throw new InputError(
      `${name} must list event types among ${EVENT_TYPES.join(', ')} (got ${JSON.stringify(lists.join(','))})`,
    );
  }
  return new Set(types);
}

/** What readers are shown of an event: the outcome record, minus webhook URLs (they can be capabilities). */
export function publicEventData(event: StreamEvent): Omit<StreamEvent['record'], 'webhooks'> {
  const { webhooks: _webhooks, ...record } = event.record;
  return record;
}

export interface ReadEventsOptions {
  /** Entries strictly after this id; `0-0` for all the stream holds. */
  after: string;
  /** Once the backlog is read, block for new entries until `signal` aborts. */
  follow: boolean;
  /** Ends a follow; the caller also disconnects the stream's connection to cut a blocked read short. */
  signal?: AbortSignal;
  batch?: number;
  /** How long one blocking read waits before the loop looks at `signal` again. */
  blockMs?: number;
}

/**
 * The events after `after`, oldest first: the backlog in pages, then (with `follow`) each new one
 * as it is appended. Every event carries its stream id, so a reader that stops can resume exactly
 * after the last one it handled.
 */
export async function* readEvents(
  stream: EventStream,
  options: ReadEventsOptions,
): AsyncGenerator<StreamEvent> {
  const batch = options.batch ?? 500;
  const stopped = () => options.signal?.aborted === true;
  let cursor = options.after;
  try {
    for await (const page of stream.pagesAfter(cursor, batch)) {
      for (const event of page) {
        cursor = event.id;
        yield event;
      }
      if (stopped()) break;
    }
    while (options.follow && !stopped()) {
      const { events } = await stream.waitAfter(cursor, options.blockMs ?? 5_000, batch);
      for (const event of events) {
        cursor = event.id;
        yield event;
      }
    }
  } catch (error) {
    // A read cut short by the stop (its connection closed) is the end, not a failure.
    if (!stopped()) throw error;
  }
}
