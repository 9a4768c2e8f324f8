import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { Queue } from 'bullmq';
import { Cluster, type ClusterOptions, Redis as Server, type RedisOptions as ServerOptions } from 'ioredis';
import {
  describeRedisTarget,
  type RedisTarget,
  type RedisTls,
  redisTargetVariable,
} from '../config/redis-target.js';
import type { Logger } from '../logging/logger.js';
import { guardDatabase } from './redis-database-guard.js';
import { type RedisPreflight, verifyRedis } from './redis-preflight.js';
import { sleep } from './sleep.js';

/**
 * A connection to Redis: one server (standalone or behind Sentinel) or a Cluster. BullMQ takes
 * either as its `connection`; every module that talks to Redis takes this type.
 */
export type Redis = Server | Cluster;

export interface RedisOptions {
  /**
   * BullMQ workers need `maxRetriesPerRequest: null` so a Redis restart (or failover) pauses them
   * instead of failing their blocking calls; plain clients ride through a failover, then fail.
   */
  forWorker?: boolean;
  connectionName?: string;
  /**
   * A probe: not connected until `connect()`, and giving up on the first failure instead of
   * reconnecting, so that it can report why.
   */
  failFast?: boolean;
}

/**
 * The one place connections are made, for every shape of Redis: `redis.duplicate()` of what it
 * returns keeps the same settings (blocking reads use that).
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  const node = nodeOptions(target, options);
  const lazy = options.failFast ? { lazyConnect: true } : {};
  // A primary demoted by a failover answers writes with READONLY until its clients are moved:
  // reconnect (Sentinel then names the new primary) and send the command again. (A Cluster
  // follows its own MOVED redirections instead.)
  const server = { ...node, ...lazy, reconnectOnError: leaveDemotedPrimary };
  switch (target.kind) {
    case 'standalone':
      return guarded(new Server(target.url, server), options);
    case 'sentinel': {
      const tls = node.tls;
      return guardDatabase(
        new Server({
          ...server,
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
          // No failoverDetector: its Sentinel subscriptions outlive quit() (BullMQ closes with quit)
          // and would keep every process alive. A killed primary drops its connections; one demoted
          // by a failover has them killed by the Sentinels or answers READONLY (see nodeOptions).
          ...(options.failFast ? { sentinelRetryStrategy: () => null } : {}),
        }),
      );
    }
    case 'cluster':
      return new Cluster(target.nodes, {
        ...clusterOptions(target, node),
        ...(options.failFast ? { ...lazy, clusterRetryStrategy: () => null } : {}),
      });
  }
}

/**
 * Every connection that may write is guarded against ioredis' fallback to database 0; a probe
 * writes nothing and reports a refused database itself (it still needs the connection to say
 * how many the server has).
 */
function guarded(server: Server, options: RedisOptions): Server {
  return options.failFast ? server : guardDatabase(server);
}

function leaveDemotedPrimary(error: Error): 2 | false {
  return error.message.startsWith('READONLY') ? 2 : false;
}

/**
 * Reconnect soon, then every second: a Sentinel or Cluster failover promotes a replica within
 * seconds of noticing the primary is gone, and clients should find it as soon as it has.
 */
function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, 1000);
}

/**
 * A plain command waits through this many reconnect attempts (about a minute: a failover, a
 * restart) before it fails; worker connections wait as long as it takes.
 */
const RECONNECTS_BEFORE_FAILING = 60;

function nodeOptions(target: RedisTarget, options: RedisOptions): ServerOptions {
  const { username, password } = target.auth;
  const tls = target.tls === undefined ? undefined : tlsOptions(target.tls);
  return {
    maxRetriesPerRequest: options.forWorker ? null : options.failFast ? 0 : RECONNECTS_BEFORE_FAILING,
    enableReadyCheck: true,
    retryStrategy: options.failFast ? () => null : reconnectDelay,
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
    // A node failover takes cluster-node-timeout (15 s by default) and an election: while it
    // lasts, commands for its slots are retried every second, for about as long as a plain
    // command rides through a Sentinel failover (ioredis' defaults give up after 1.6 s).
    retryDelayOnFailover: 1000,
    retryDelayOnClusterDown: 1000,
    maxRedirections: RECONNECTS_BEFORE_FAILING,
    // Keep the names given in REDIS_CLUSTER_NODES rather than resolving them to addresses, so TLS
    // checks certificates against those names (managed clusters issue them for names, not IPs).
    ...(target.tls === undefined ? {} : { dnsLookup: (address, lookup) => lookup(null, address) }),
  };
}

/**
 * Logs a lost connection once at warn when it starts reconnecting (by itself: a failover, a
 * restart) and its return at info; errors at debug, since reconnecting repeats them.
 */
export function logConnectionHealth(redis: Redis, target: RedisTarget, logger: Logger): void {
  let lost = false;
  redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'redis connection error'));
  redis.on('reconnecting', () => {
    if (lost) return;
    lost = true;
    logger.warn(
      { redis: describeRedisTarget(target) },
      'redis connection lost; reconnecting (commands wait for it)',
    );
  });
  redis.on('ready', () => {
    if (!lost) return;
    lost = false;
    logger.info({ redis: describeRedisTarget(target) }, 'redis connection restored');
  });
}

/**
 * A BullMQ queue re-emits its connection's errors and, when nobody listens, prints them raw to
 * stderr: a failover would spill stack traces into the CLI's output. Whoever owns the connection
 * reports its errors (the Runtime logs them), so the queue's copies are dropped.
 */
export function withoutRepeatedErrors<Q extends Queue>(queue: Q): Q {
  queue.on('error', () => {});
  return queue;
}

/**
 * Sentinels that answer but name a primary that does not: a failover is under way (the primary
 * died and no replica is promoted yet). A command in flight rides through it; so does a process
 * starting meanwhile, for as long.
 */
const FAILOVER_PATIENCE_MS = 60_000;
const PRIMARY_GONE = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|Connection is closed|READONLY|LOADING/;

/**
 * Proves Redis usable before anything is written (see verifyRedis): fails within `timeoutMs`
 * with RedisConnectionError, one line naming the Redis, the cause and the variable to change,
 * instead of ioredis' endless reconnect loop or its silent fallback to database 0. Behind
 * Sentinels, waits out a failover first.
 */
export async function assertRedisReachable(target: RedisTarget, timeoutMs = 3000): Promise<RedisPreflight> {
  const patientUntil = Date.now() + (target.kind === 'sentinel' ? FAILOVER_PATIENCE_MS : 0);
  for (;;) {
    try {
      return await probe(target, timeoutMs);
    } catch (error) {
      const text = String((error as Error).message);
      const failingOver =
        target.kind === 'sentinel' && PRIMARY_GONE.test(text) && !/All sentinels are unreachable/i.test(text);
      if (!failingOver || Date.now() >= patientUntil) throw error;
      await sleep(250);
    }
  }
}

/** One attempt to connect and check: the preflight's warnings, or RedisConnectionError. */
async function probe(target: RedisTarget, timeoutMs: number): Promise<RedisPreflight> {
  const client = createRedis(target, { connectionName: 'actionwatch:probe', failFast: true });
  // Events after the check (a late reset) must not print as unhandled.
  client.on('error', () => {});
  try {
    return await verifyRedis(client, {
      label: describeRedisTarget(target),
      variable: redisTargetVariable(target),
      timeoutMs,
    });
  } finally {
    client.disconnect();
  }
}

/**
 * Deletes every key under `prefix:` (a demo's or a test's private namespace). On a Cluster every
 * primary is scanned, and keys are unlinked one by one since they may hash to different slots.
 */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  if (redis instanceof Cluster) {
    let deleted = 0;
    for (const primary of redis.nodes('master')) {
      await scanKeys(primary, prefix, async (keys) => {
        const counts = await Promise.all(keys.map((key) => redis.unlink(key)));
        deleted += counts.reduce((sum, count) => sum + count, 0);
      });
    }
    return deleted;
  }
  let deleted = 0;
  await scanKeys(redis, prefix, async (keys) => {
    deleted += await redis.unlink(...keys);
  });
  return deleted;
}

async function scanKeys(
  node: Server,
  prefix: string,
  each: (keys: string[]) => Promise<void>,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await each(keys);
  } while (cursor !== '0');
}
