import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, type ClusterOptions, Redis as Server, type RedisOptions as ServerOptions } from 'ioredis';
import {
  describeRedisTarget,
  type RedisTarget,
  type RedisTls,
  redisTargetVariable,
} from '../config/redis-target.js';

/**
 * A connection to Redis: one server (standalone or behind Sentinel) or a Cluster. BullMQ takes
 * either as its `connection`; every module that talks to Redis takes this type.
 */
export type Redis = Server | Cluster;

export interface RedisOptions {
  /**
   * BullMQ workers need `maxRetriesPerRequest: null` so a Redis restart (or failover) pauses them
   * instead of failing their blocking calls; plain clients keep a bound so commands fail fast.
   */
  forWorker?: boolean;
  connectionName?: string;
  /** Give up on the first failure instead of reconnecting (a probe that reports why). */
  failFast?: boolean;
}

/**
 * The one place connections are made, for every shape of Redis: `redis.duplicate()` of what it
 * returns keeps the same settings (blocking reads use that).
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  const node = nodeOptions(target, options);
  switch (target.kind) {
    case 'standalone':
      return new Server(target.url, node);
    case 'sentinel': {
      const tls = node.tls;
      return new Server({
        ...node,
        sentinels: target.sentinels,
        name: target.name,
        ...(target.sentinelAuth.username === undefined
          ? {}
          : { sentinelUsername: target.sentinelAuth.username }),
        ...(target.sentinelAuth.password === undefined
          ? {}
          : { sentinelPassword: target.sentinelAuth.password.reveal() }),
        // The same TLS settings reach the Sentinels and the primary they name.
        ...(tls === undefined ? {} : { sentinelTLS: tls, enableTLSForSentinelMode: true }),
        // Hears +switch-master from the Sentinels, so a partitioned old primary is left at once.
        failoverDetector: !options.failFast,
        ...(options.failFast ? { sentinelRetryStrategy: () => null } : {}),
      });
    }
    case 'cluster':
      return new Cluster(target.nodes, {
        ...clusterOptions(target, node),
        ...(options.failFast ? { clusterRetryStrategy: () => null } : {}),
      });
  }
}

function nodeOptions(target: RedisTarget, options: RedisOptions): ServerOptions {
  const { username, password } = target.auth;
  const tls = target.tls === undefined ? undefined : tlsOptions(target.tls);
  return {
    maxRetriesPerRequest: options.forWorker ? null : options.failFast ? 0 : 3,
    enableReadyCheck: true,
    ...(options.failFast ? { retryStrategy: () => null } : {}),
    // A primary demoted by a failover answers writes with READONLY until its clients are moved:
    // reconnect (Sentinel then names the new primary) and send the command again.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password: password.reveal() }),
    ...(tls === undefined ? {} : { tls }),
  };
}

function tlsOptions(tls: RedisTls): TlsOptions {
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key.reveal() }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}

function clusterOptions(target: RedisTarget, node: ServerOptions): ClusterOptions {
  return {
    redisOptions: node,
    enableReadyCheck: true,
    // Keep the names given in REDIS_CLUSTER_NODES rather than resolving them to addresses, so TLS
    // checks certificates against those names (managed clusters issue them for names, not IPs).
    ...(target.tls === undefined ? {} : { dnsLookup: (address, lookup) => lookup(null, address) }),
  };
}

/**
 * Fails within `timeoutMs` with one line naming the Redis and the variable to change, instead of
 * ioredis' endless reconnect loop.
 */
export async function assertRedisReachable(target: RedisTarget, timeoutMs = 3000): Promise<void> {
  const probe = createRedis(target, { connectionName: 'actionwatch:probe', failFast: true });
  let lastError: Error | undefined;
  probe.on('error', (error: Error) => {
    lastError = error;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    // The connection's own error (refused, a certificate not trusted) says more than the ping's.
    const why = (lastError ?? (error as Error)).message;
    const variable = redisTargetVariable(target);
    throw new Error(
      `Redis at ${describeRedisTarget(target)} did not answer (${why}). ${
        variable === 'REDIS_URL'
          ? "Start one (docker compose up -d redis, or your package manager's redis-server) or set REDIS_URL."
          : `Check ${variable} and the REDIS_* credentials and TLS settings.`
      }`,
    );
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/**
 * Deletes every key under `prefix:` (a demo's or a test's private namespace). On a Cluster every
 * primary is scanned, and keys are unlinked one by one since they may hash to different slots.
 */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  await scanKeysWithPrefix(redis, prefix, async (keys) => {
    const counts =
      redis instanceof Cluster
        ? await Promise.all(keys.map((key) => redis.unlink(key)))
        : [await redis.unlink(...keys)];
    deleted += counts.reduce((sum, count) => sum + count, 0);
  });
  return deleted;
}

/**
 * Hands every key under `prefix:` to `each`, a SCAN page at a time, with the server that holds
 * them: on a Cluster, each primary in turn (SCAN sees one node's keys only).
 */
export async function scanKeysWithPrefix(
  redis: Redis,
  prefix: string,
  each: (keys: string[], node: Server) => Promise<void>,
): Promise<void> {
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await each(keys, node);
    } while (cursor !== '0');
  }
}
