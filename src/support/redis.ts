import { Redis } from 'ioredis';

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
  return new Redis(url, {
    maxRetriesPerRequest: options.forWorker ? null : 3,
    enableReadyCheck: true,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  });
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
 * Fails within `timeoutMs` with a message naming the URL and the ways to get a Redis, instead of
 * ioredis' endless reconnect loop.
 */
export async function assertRedisReachable(url: string, timeoutMs = 3000): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Redis at ${describeRedisUrl(url)} did not answer (${why}). Start one (docker compose up -d redis, or your package manager's redis-server) or set REDIS_URL.`,
    );
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
