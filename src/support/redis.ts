import { Redis } from 'ioredis';
import { guardDatabase } from './redis-database-guard.js';
import { type RedisPreflight, verifyRedis } from './redis-preflight.js';

export type { Redis };

export interface RedisOptions {
  /**
   * BullMQ workers need `maxRetriesPerRequest: null` so a Redis restart pauses them instead of
   * failing their blocking calls; plain clients keep a bound so commands fail fast.
   */
  forWorker?: boolean;
  connectionName?: string;
}

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: options.forWorker ? null : 3,
    enableReadyCheck: true,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  });
  return guardDatabase(redis);
}

/** Where a URL is printed, its password is not. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = parsed.password ? '***' : '';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/**
 * Proves REDIS_URL usable before anything is written (see verifyRedis): fails within `timeoutMs`
 * with RedisConnectionError, one line naming the cause, instead of ioredis' endless reconnect
 * loop or its silent fallback to database 0.
 */
export async function assertRedisReachable(url: string, timeoutMs = 3000): Promise<RedisPreflight> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    // A probe has nothing to flush; a failed one would otherwise hold the process 2 s.
    disconnectTimeout: 0,
  });
  // Events after the check (a late reset) must not print as unhandled.
  probe.on('error', () => {});
  try {
    return await verifyRedis(probe, { label: describeRedisUrl(url), timeoutMs });
  } finally {
    probe.disconnect();
  }
}

/** Deletes every key under `prefix:` (a demo's or a test's private namespace). */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
