/** Every Redis key actionwatch writes outside BullMQ's own, in one place. */
export const WATCH_QUEUE = 'watches';

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
