/** Every Redis key actionwatch writes outside BullMQ's own, in one place. */
export const WATCH_QUEUE = 'watches';

/** Each token profile has a queue of its own, so a 429 on one token pauses only its watches. */
export function watchQueueName(tokenProfile: string | undefined): string {
  return tokenProfile === undefined ? WATCH_QUEUE : `${WATCH_QUEUE}.${tokenProfile}`;
}

export function eventsKey(prefix: string): string {
  return `${prefix}:events`;
}

export function outcomeKey(prefix: string, watchId: string): string {
  return `${prefix}:outcome:${watchId}`;
}

/** Sorted set of watch ids by enqueue time, for stable listing. */
export function watchIndexKey(prefix: string): string {
  return `${prefix}:watch-index`;
}
