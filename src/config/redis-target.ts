import { readFileSync } from 'node:fs';
import { parseBoolean } from './env-values.js';
import { Secret } from './secret.js';

type Env = Record<string, string | undefined>;

export interface HostPort {
  host: string;
  port: number;
}

/** TLS settings for every connection to Redis (and to Sentinels); files are read at start. */
export interface RedisTls {
  /** PEM CA bundle replacing the system roots (REDIS_TLS_CA_FILE). */
  ca: string | undefined;
  /** Client certificate and key (REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE), for mutual TLS. */
  cert: string | undefined;
  key: Secret | undefined;
  /** Name the server certificate is checked against (SNI), when it differs from the host dialled. */
  servername: string | undefined;
  rejectUnauthorized: boolean;
}

export interface RedisAuth {
  username: string | undefined;
  password: Secret | undefined;
}

/**
 * Where Redis is and how to reach it: one server (REDIS_URL), a Sentinel-managed primary
 * (REDIS_SENTINELS) or a Cluster (REDIS_CLUSTER_NODES). Credentials are kept out of `url` and
 * travel as `Secret`s, so a Config prints no password however it is printed.
 */
export type RedisTarget =
  | { kind: 'standalone'; url: string; auth: RedisAuth; tls: RedisTls | undefined }
  | {
      kind: 'sentinel';
      sentinels: HostPort[];
      name: string;
      auth: RedisAuth;
      sentinelAuth: RedisAuth;
      tls: RedisTls | undefined;
    }
  | { kind: 'cluster'; nodes: HostPort[]; auth: RedisAuth; tls: RedisTls | undefined };

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Every variable that says how to reach Redis (a child process on the same Redis needs them all). */
export const REDIS_VARIABLES = [
  'REDIS_URL',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_TLS',
  'REDIS_TLS_CA_FILE',
  'REDIS_TLS_CERT_FILE',
  'REDIS_TLS_KEY_FILE',
  'REDIS_TLS_SERVERNAME',
  'REDIS_TLS_REJECT_UNAUTHORIZED',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_USERNAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
] as const;

/**
 * The Redis variables of `env` that are set, or the default REDIS_URL when none is: what a child
 * process or a second configuration needs to reach the same Redis.
 */
export function redisVariables(env: Env): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of REDIS_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') picked[name] = value;
  }
  return Object.keys(picked).length > 0 ? picked : { REDIS_URL: DEFAULT_REDIS_URL };
}

/**
 * Reads the Redis variables of an environment whose empty values are already dropped. Returns the
 * target, or one problem per wrong value (each naming its variable).
 */
export function parseRedisTarget(env: Env): { target?: RedisTarget; problems: string[] } {
  const problems: string[] = [];
  const sentinels = hostPortList(env, 'REDIS_SENTINELS', problems);
  const clusterNodes = hostPortList(env, 'REDIS_CLUSTER_NODES', problems);
  if (env.REDIS_SENTINELS !== undefined && env.REDIS_CLUSTER_NODES !== undefined)
    problems.push('REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: a Redis is either one or the other');
  const topologyVariable =
    env.REDIS_SENTINELS !== undefined
      ? 'REDIS_SENTINELS'
      : env.REDIS_CLUSTER_NODES !== undefined
        ? 'REDIS_CLUSTER_NODES'
        : undefined;
  if (topologyVariable !== undefined && env.REDIS_URL !== undefined)
    problems.push(
      `REDIS_URL and ${topologyVariable} are both set: name the Redis one way (REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS carry what the URL would)`,
    );
  if (env.REDIS_SENTINELS === undefined) {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD']) {
      if (env[name] !== undefined) problems.push(`${name} is set but REDIS_SENTINELS is not`);
    }
  } else if (env.REDIS_SENTINEL_NAME === undefined) {
    problems.push('REDIS_SENTINEL_NAME is required with REDIS_SENTINELS: the name of the monitored primary');
  }

  const url = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  const parsedUrl = topologyVariable === undefined ? parseRedisUrl(url, problems) : undefined;
  const auth: RedisAuth = {
    username: env.REDIS_USERNAME,
    password: env.REDIS_PASSWORD === undefined ? undefined : new Secret(env.REDIS_PASSWORD),
  };
  if (parsedUrl !== undefined) {
    if (parsedUrl.username !== '') {
      if (env.REDIS_USERNAME !== undefined)
        problems.push('REDIS_USERNAME is set and REDIS_URL names a user too: keep one');
      auth.username = decodeURIComponent(parsedUrl.username);
    }
    if (parsedUrl.password !== '') {
      if (env.REDIS_PASSWORD !== undefined)
        problems.push('REDIS_PASSWORD is set and REDIS_URL holds a password too: keep one');
      auth.password = new Secret(decodeURIComponent(parsedUrl.password));
    }
  }

  const tlsRequested = parseBoolean(env.REDIS_TLS, false);
  if (tlsRequested === undefined) problems.push(`REDIS_TLS must be true or false (got "${env.REDIS_TLS}")`);
  const tlsOn = tlsRequested === true || parsedUrl?.protocol === 'rediss:';
  const tls = tlsOn ? readTls(env, problems) : undefined;
  if (!tlsOn) {
    for (const name of REDIS_VARIABLES.filter((variable) => variable.startsWith('REDIS_TLS_'))) {
      if (env[name] !== undefined)
        problems.push(
          `${name} is set but TLS is off: use a rediss:// REDIS_URL, or REDIS_TLS=true with ${topologyVariable ?? 'REDIS_SENTINELS or REDIS_CLUSTER_NODES'}`,
        );
    }
  }
  if (problems.length > 0) return { problems };

  if (sentinels !== undefined) {
    const sentinelAuth: RedisAuth = {
      username: env.REDIS_SENTINEL_USERNAME,
      password:
        env.REDIS_SENTINEL_PASSWORD === undefined ? undefined : new Secret(env.REDIS_SENTINEL_PASSWORD),
    };
    return {
      target: { kind: 'sentinel', sentinels, name: env.REDIS_SENTINEL_NAME ?? '', auth, sentinelAuth, tls },
      problems,
    };
  }
  if (clusterNodes !== undefined)
    return { target: { kind: 'cluster', nodes: clusterNodes, auth, tls }, problems };
  return { target: { kind: 'standalone', url: withoutCredentials(parsedUrl as URL), auth, tls }, problems };
}

function parseRedisUrl(text: string, problems: string[]): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push('REDIS_URL must be a URL such as redis://host:6379 or rediss://host:25061');
    return undefined;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    problems.push('REDIS_URL must start with redis:// or rediss://');
    return undefined;
  }
  if (url.hostname === '') {
    problems.push('REDIS_URL names no host');
    return undefined;
  }
  const database = url.pathname.replace(/^\//, '');
  if (database !== '' && !/^\d+$/.test(database)) {
    problems.push(`REDIS_URL's path must be a database number such as /0 (got "${url.pathname}")`);
    return undefined;
  }
  return url;
}

function withoutCredentials(url: URL): string {
  const bare = new URL(url.toString());
  bare.username = '';
  bare.password = '';
  return bare.toString().replace(/\/$/, '');
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/;

function hostPortList(env: Env, name: string, problems: string[]): HostPort[] | undefined {
  const text = env[name];
  if (text === undefined) return undefined;
  const nodes: HostPort[] = [];
  for (const entry of text.split(',').map((part) => part.trim())) {
    const match = HOST_PORT.exec(entry);
    const port = Number(match?.[3]);
    if (match === null || port < 1 || port > 65_535) {
      problems.push(`${name} must list host:port pairs separated by commas (got "${entry}" in "${text}")`);
      return undefined;
    }
    nodes.push({ host: match[1] ?? match[2] ?? '', port });
  }
  return nodes;
}

function readTls(env: Env, problems: string[]): RedisTls {
  const rejectUnauthorized = parseBoolean(env.REDIS_TLS_REJECT_UNAUTHORIZED, true);
  if (rejectUnauthorized === undefined)
    problems.push(
      `REDIS_TLS_REJECT_UNAUTHORIZED must be true or false (got "${env.REDIS_TLS_REJECT_UNAUTHORIZED}")`,
    );
  if ((env.REDIS_TLS_CERT_FILE === undefined) !== (env.REDIS_TLS_KEY_FILE === undefined))
    problems.push(
      'REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both for a client certificate',
    );
  const key = readPem(env, 'REDIS_TLS_KEY_FILE', 'PRIVATE KEY', problems);
  return {
    ca: readPem(env, 'REDIS_TLS_CA_FILE', 'CERTIFICATE', problems),
    cert: readPem(env, 'REDIS_TLS_CERT_FILE', 'CERTIFICATE', problems),
    key: key === undefined ? undefined : new Secret(key),
    servername: env.REDIS_TLS_SERVERNAME,
    rejectUnauthorized: rejectUnauthorized ?? true,
  };
}

/** Reads a PEM file named by `name`, checking that it holds a block of the expected kind. */
function readPem(env: Env, name: string, kind: string, problems: string[]): string | undefined {
  const path = env[name];
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    problems.push(`${name}: cannot read ${path} (${code})`);
    return undefined;
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) {
    problems.push(`${name}: ${path} holds no PEM ${kind.toLowerCase()}`);
    return undefined;
  }
  return text;
}

/** How a target is named in messages: hosts and mode, never a password. */
export function describeRedisTarget(target: RedisTarget): string {
  const user = target.auth.username === undefined ? '' : ` as ${target.auth.username}`;
  const urlSaysTls = target.kind === 'standalone' && target.url.startsWith('rediss:');
  const tls = target.tls === undefined || urlSaysTls ? '' : ' over TLS';
  const list = (nodes: HostPort[]) =>
    nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  switch (target.kind) {
    case 'standalone':
      return `${target.url}${user}`;
    case 'sentinel':
      return `Sentinel primary "${target.name}" via ${list(target.sentinels)}${user}${tls}`;
    case 'cluster':
      return `Cluster ${list(target.nodes)}${user}${tls}`;
  }
}

/** The variable(s) an operator changes to point actionwatch at another Redis. */
export function redisTargetVariable(target: RedisTarget): string {
  return target.kind === 'sentinel'
    ? 'REDIS_SENTINELS'
    : target.kind === 'cluster'
      ? 'REDIS_CLUSTER_NODES'
      : 'REDIS_URL';
}
