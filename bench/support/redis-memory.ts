import type { Redis } from '../../src/support/redis.js';
import { WATCH_QUEUE } from '../../src/watches/keys.js';
import { parseWatchId } from '../../src/watches/watch-ref.js';

/** INFO memory `used_memory`: everything the Redis server holds, other tenants included. */
export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (!match) throw new Error('INFO memory has no used_memory line');
  return Number(match[1]);
}

/** The request budget's windows: per-token bookkeeping bounded by the hourly limit, not per watch. */
export const BUDGET_GROUP = 'request budget';

export interface KeyGroup {
  keys: number;
  bytes: number;
}

/** Where a key under the prefix belongs, in words a reader of the results understands. */
function groupOf(key: string, prefix: string): string {
  const rest = key.slice(prefix.length + 1);
  if (rest === 'watch-index') return 'watch index zset';
  if (rest.startsWith('budget:')) return BUDGET_GROUP;
  if (rest === 'events' || rest.startsWith('outcome:')) return 'outcomes and events';
  if (!rest.startsWith(`${WATCH_QUEUE}:`)) return 'other';
  const inQueue = rest.slice(WATCH_QUEUE.length + 1);
  if (inQueue === 'delayed') return 'BullMQ delayed zset';
  if (inQueue === 'events') return 'BullMQ events stream';
  const [jobId, suffix] = inQueue.split(':');
  if (jobId !== undefined && parseWatchId(jobId) !== undefined) {
    return suffix === undefined ? 'BullMQ job hashes' : 'BullMQ per-job extras';
  }
  return 'BullMQ queue keys';
}

/**
 * MEMORY USAGE (every element sampled) of each key under `prefix:`, summed by group. Unlike the
 * used_memory delta it sees only this run's keys, so it cross-checks that figure on a shared Redis.
 */
export async function memoryByGroup(redis: Redis, prefix: string): Promise<Map<string, KeyGroup>> {
  const groups = new Map<string, KeyGroup>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const replies = (await pipeline.exec()) ?? [];
    for (const [index, key] of keys.entries()) {
      const bytes = Number(replies[index]?.[1] ?? 0);
      const name = groupOf(key, prefix);
      const group = groups.get(name) ?? { keys: 0, bytes: 0 };
      group.keys++;
      group.bytes += bytes;
      groups.set(name, group);
    }
  } while (cursor !== '0');
  return groups;
}
