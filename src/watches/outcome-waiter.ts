import type { EventFeed, WaitOptions } from '../notifications/event-feed.js';
import type { StreamEvent } from '../notifications/event-stream.js';
import type { OutcomeStore } from './outcome-store.js';
import type { OutcomeRecord } from './watch.js';

export interface OutcomeWaitOptions extends WaitOptions {
  /**
   * The `enqueuedAt` of the watch waited on, when known: an event of that very watch then answers
   * without reading the stored outcome (an event of an earlier watch of the action does not).
   */
  enqueuedAt?: string;
}

/**
 * Resolves with a watch's outcome as soon as it is recorded (undefined after `timeoutMs`): the
 * process's event feed says when to look, the stored outcome is what is returned, so an outcome
 * recorded before the wait began, or trimmed from the stream, is never missed.
 */
export function waitForOutcome(
  feed: EventFeed,
  outcomes: OutcomeStore,
  watchId: string,
  options: OutcomeWaitOptions = {},
): Promise<OutcomeRecord | undefined> {
  const { enqueuedAt, ...waitOptions } = options;
  return feed.waitFor({ kind: 'watch', id: watchId }, () => outcomes.get(watchId), {
    ...waitOptions,
    ...(enqueuedAt === undefined
      ? {}
      : {
          fromEvent: (event: StreamEvent) =>
            event.subject === 'watch' && event.record.watch.enqueuedAt === enqueuedAt
              ? event.record
              : undefined,
        }),
  });
}
