import { RedisConnectionError } from '../errors/redis-connection-error.js';
import type { Redis } from './redis.js';
import { isSelectFailure } from './redis-database-guard.js';

export interface RedisPreflightOptions {
  /** Where the client points, as users may see it (no password): named in every message. */
  label: string;
  /** The setting that names this Redis (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES): named in hints. */
  variable?: string;
  /** The whole check, connection included, fails after this long. */
  timeoutMs?: number;
}

export interface RedisPreflight {
  /** Advice that does not stop anything (an eviction policy that may drop watches), one line each. */
  warnings: string[];
}

function howToGetOne(variable: string): string {
  return variable === 'REDIS_URL'
    ? "start one (docker compose up -d redis, or your package manager's redis-server) or set REDIS_URL"
    : `check ${variable} and the REDIS_* credentials and TLS settings`;
}

/** A Cluster has database 0 only; a server the one its URL names. */
function databaseOf(client: Redis): number {
  return (client.options as { db?: number }).db ?? 0;
}

/**
 * Proves a Redis client usable before anything is written with it: the server answers as Redis,
 * accepts the credentials, and has the database selected. Best given a client made with
 * `lazyConnect` and no reconnection (it connects it); leaves closing it to the caller. Throws
 * RedisConnectionError, one line per cause; an eviction policy other than `noeviction` is a
 * warning.
 */
export async function verifyRedis(client: Redis, options: RedisPreflightOptions): Promise<RedisPreflight> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const variable = options.variable ?? 'REDIS_URL';
  // ioredis reports the cause (ENOTFOUND, WRONGPASS, a failed SELECT) as an event and then
  // rejects with a bare "Connection is closed."; the first event is the one worth telling.
  const events: Error[] = [];
  const record = (error: Error) => events.push(error);
  client.on('error', record);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      client.disconnect();
      reject(
        new RedisConnectionError(
          'timeout',
          `Redis at ${options.label} did not answer within ${timeoutMs / 1000} s: check its host and port, or ${howToGetOne(variable)}`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([check(client, options.label, events), timeout]);
  } catch (error) {
    if (error instanceof RedisConnectionError) throw error;
    // A client guarded by guardDatabase closes itself on a failed SELECT before it is asked again.
    if (events.some(isSelectFailure))
      throw new RedisConnectionError('database', missingDatabase(options.label, databaseOf(client)));
    throw describeFailure(events[0] ?? error, options.label, variable);
  } finally {
    clearTimeout(timer);
    client.off('error', record);
  }
}

async function check(client: Redis, label: string, events: Error[]): Promise<RedisPreflight> {
  if (client.status === 'wait') await client.connect();
  await client.ping();
  const db = databaseOf(client);
  // ioredis selected it while connecting and reported a refusal only as an event; asking again
  // settles it even where the guard was not installed.
  const refused = events.find(isSelectFailure);
  if (refused !== undefined || (db !== 0 && !(await selects(client, db))))
    throw new RedisConnectionError('database', missingDatabase(label, db, await databaseCount(client)));
  return { warnings: await evictionWarnings(client) };
}

async function selects(client: Redis, db: number): Promise<boolean> {
  try {
    await client.select(db);
    return true;
  } catch (error) {
    if (/DB index|invalid DB/i.test(String(error))) return false;
    throw error;
  }
}

/** How many databases the server has, when it lets us ask (CONFIG is often refused by managed offers). */
async function databaseCount(client: Redis): Promise<number | undefined> {
  const reply = await client.config('GET', 'databases').catch(() => undefined);
  const count = Number((reply as string[] | undefined)?.[1]);
  return Number.isInteger(count) && count > 0 ? count : undefined;
}

function missingDatabase(label: string, db: number, count?: number): string {
  const has = count === undefined ? '' : ` (it has ${count}: 0 to ${count - 1})`;
  return `Redis at ${label} has no database ${db}${has}: choose one at the end of REDIS_URL, e.g. redis://127.0.0.1:6379/0; nothing was written`;
}

/** `INFO memory` rather than CONFIG GET: managed Redis offers often refuse CONFIG. */
async function evictionWarnings(client: Redis): Promise<string[]> {
  const info = await client.info('memory').catch(() => '');
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy === undefined || policy === 'noeviction') return [];
  return [
    `warning: Redis maxmemory-policy is ${policy}: when memory runs short Redis deletes keys, watches and their outcomes among them; set it to noeviction`,
  ];
}

/** One line per cause, naming it and what to change. */
function describeFailure(error: unknown, label: string, variable: string): RedisConnectionError {
  const { code, hostname, address, port, message } = error as {
    code?: string;
    hostname?: string;
    address?: string;
    port?: number;
    message?: string;
  };
  // A Cluster's "Failed to refresh slots cache" carries the node's own error beside it.
  const nodeError = (error as { lastNodeError?: Error }).lastNodeError;
  const text = `${message ?? String(error)}${nodeError === undefined ? '' : ` ${nodeError.message}`}`;
  const where = address === undefined ? label : `${address}:${port}`;
  if (code === 'ENOTFOUND')
    return new RedisConnectionError(
      'dns',
      `the Redis host ${hostname ?? label} does not resolve (ENOTFOUND): check the host name in ${variable} (${label})`,
    );
  if (code === 'EAI_AGAIN')
    return new RedisConnectionError(
      'dns',
      `the Redis host ${hostname ?? label} could not be looked up (EAI_AGAIN, DNS did not answer): check your network and DNS, or the host name in ${variable} (${label})`,
    );
  if (code === 'ECONNREFUSED')
    return new RedisConnectionError(
      'refused',
      `Redis at ${where} refused the connection (ECONNREFUSED: nothing listens there): ${howToGetOne(variable)}`,
    );
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return new RedisConnectionError(
      'timeout',
      `Redis at ${label} cannot be reached (${code}): check its host, port and firewall, or ${howToGetOne(variable)}`,
    );
  if (/^NOAUTH/.test(text))
    return new RedisConnectionError(
      'auth',
      `Redis at ${label} requires a password (NOAUTH): ${variable === 'REDIS_URL' ? 'put it in REDIS_URL, e.g. redis://:PASSWORD@host:6379 or redis://USER:PASSWORD@host:6379, or set REDIS_PASSWORD' : 'set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user)'}`,
    );
  if (/^WRONGPASS|invalid password|invalid username-password/i.test(text))
    return new RedisConnectionError(
      'auth',
      `Redis at ${label} refused the user name or password (WRONGPASS): check ${variable === 'REDIS_URL' ? 'REDIS_URL or ' : ''}REDIS_USERNAME and REDIS_PASSWORD`,
    );
  if (/certificate|CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(`${code ?? ''} ${text}`))
    return new RedisConnectionError(
      'tls',
      `Redis at ${label} did not answer (${text}): its TLS certificate was not accepted; check REDIS_TLS_CA_FILE and REDIS_TLS_SERVERNAME`,
    );
  if ((error as Error).name === 'ParserError' || code === 'ECONNRESET')
    return new RedisConnectionError(
      'protocol',
      `something at ${label} answered, but not as Redis (${code ?? 'protocol error'}): check the port in ${variable}, and TLS (rediss:// or REDIS_TLS)`,
    );
  return new RedisConnectionError(
    'unavailable',
    `Redis at ${label} did not answer (${text}): ${howToGetOne(variable)}`,
  );
}
