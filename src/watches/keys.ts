import { profilePrefix } from '../support/key-prefix.js';

/**
 * Every Redis key actionwatch writes outside BullMQ's own, in one place. `prefix` is the
 * deployment's key prefix (hash-tagged in cluster mode, see support/key-prefix.ts): every key here
 * shares its slot.
 */
export const WATCH_QUEUE = 'watches';

/** Each token profile has a queue of its own, so a 429 on one token pauses only its watches. */
export function watchQueueName(tokenProfile: string | undefined): string {
  return tokenProfile === undefined ? WATCH_QUEUE : `${WATCH_QUEUE}.${tokenProfile}`;
}

/** BullMQ's prefix for a token profile's watch queue: the profile's own slot in cluster mode. */
export function watchQueuePrefix(prefix: string, tokenProfile: string | undefined): string {
  return profilePrefix(prefix, tokenProfile);
}

export function eventsKey(prefix: string): string {
  return `${prefix}:events`;
}

export function outcomeKey(prefix: string, watchId: string): string {
  return `${prefix}:outcome:${watchId}`;
}

/** The keys of record-outcome.lua for a watch: its outcome, and the events stream. */
export function recordOutcomeKeys(prefix: string, watchId: string): [string, string] {
  return [outcomeKey(prefix, watchId), eventsKey(prefix)];
}

/** Sorted set of watch ids by enqueue time, for stable listing. */
export function watchIndexKey(prefix: string): string {
  return `${prefix}:watch-index`;
}
