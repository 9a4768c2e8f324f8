import type { EventFeed, WaitOptions } from '../notifications/event-feed.js';
import type { OutcomeStore } from './outcome-store.js';
import type { OutcomeRecord } from './watch.js';

export type { WaitOptions };

/**
 * Resolves with a watch's outcome as soon as it is recorded (undefined after `timeoutMs`): the
 * process's event feed says when to look, the stored outcome is what is returned, so an outcome
 * recorded before the wait began, or trimmed from the stream, is never missed.
 */
export function waitForOutcome(
  feed: EventFeed,
  outcomes: OutcomeStore,
  watchId: string,
  options: WaitOptions = {},
): Promise<OutcomeRecord | undefined> {
  return feed.waitFor({ kind: 'watch', id: watchId }, () => outcomes.get(watchId), options);
}
