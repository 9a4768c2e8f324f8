import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { describeRedisTarget, REDIS_VARIABLES, redisVariables } from '../src/config/redis-target.js';
import { problemsOf } from './support/config-problems.js';
import { LogCapture } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE-key-material\n-----END PRIVATE KEY-----\n';

describe('Redis configuration', () => {
  const files = new TempDir('aw-redis-config');
  const ca = files.file(PEM_CERT, 'ca.pem');
  const cert = files.file(PEM_CERT, 'client.pem');
  const key = files.file(PEM_KEY, 'client.key');
  afterAll(() => files.remove());

  it('takes one server from REDIS_URL, keeping its credentials out of the URL', () => {
    expect(loadConfig({}).redis).toEqual({
      kind: 'standalone',
      url: 'redis://127.0.0.1:6379',
      auth: { username: undefined, password: undefined },
      tls: undefined,
    });
    const { redis } = loadConfig({ REDIS_URL: 'redis://app:p%40ss-9f3e@cache.internal:6380/2' });
    expect(redis).toMatchObject({ kind: 'standalone', url: 'redis://cache.internal:6380/2' });
    expect(redis.auth.username).toBe('app');
    expect(redis.auth.password?.reveal()).toBe('p@ss-9f3e');
  });

  it('takes REDIS_USERNAME and REDIS_PASSWORD beside a URL without credentials, not both', () => {
    const { redis } = loadConfig({
      REDIS_URL: 'redis://cache.internal:6379',
      REDIS_USERNAME: 'app',
      REDIS_PASSWORD: 'pw-7c1d',
    });
    expect(redis.auth.username).toBe('app');
    expect(redis.auth.password?.reveal()).toBe('pw-7c1d');
    expect(problemsOf({ REDIS_URL: 'redis://:a@h:6379', REDIS_PASSWORD: 'b' })).toEqual([
      'REDIS_PASSWORD is set and REDIS_URL holds a password too: keep one',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://u@h:6379', REDIS_USERNAME: 'v' })).toEqual([
      'REDIS_USERNAME is set and REDIS_URL names a user too: keep one',
    ]);
  });

  it('never prints a Redis password or TLS key, whatever serialises the config', () => {
    const config = loadConfig({
      REDIS_SENTINELS: '10.0.0.1:26379',
      REDIS_SENTINEL_NAME: 'main',
      REDIS_PASSWORD: 'data-pw-5a7b',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw-2e4f',
      REDIS_TLS: 'true',
      REDIS_TLS_CERT_FILE: cert,
      REDIS_TLS_KEY_FILE: key,
    });
    const fromUrl = loadConfig({ REDIS_URL: 'rediss://default:url-pw-8d2c@db.example.com:25061' });
    const printed = [config, fromUrl]
      .flatMap((each) => [
        JSON.stringify(each),
        inspect(each, { depth: 10 }),
        describeRedisTarget(each.redis),
      ])
      .join('\n');
    for (const secret of ['data-pw-5a7b', 'sentinel-pw-2e4f', 'url-pw-8d2c', 'key-material'])
      expect(printed).not.toContain(secret);
    expect(describeRedisTarget(fromUrl.redis)).toBe('rediss://db.example.com:25061 as default');
  });

  it('the logger censors ioredis password options wherever they appear', () => {
    const logs = new LogCapture();
    logs.logger.info(
      { password: 'pw-1', options: { password: 'pw-2', sentinelPassword: 'pw-3' } },
      'options',
    );
    expect(logs.raw.join('\n')).not.toMatch(/pw-[123]/);
  });

  it('reads TLS files at start and checks what they hold', () => {
    const { redis } = loadConfig({
      REDIS_URL: 'rediss://db.example.com:25061',
      REDIS_TLS_CA_FILE: ca,
      REDIS_TLS_CERT_FILE: cert,
      REDIS_TLS_KEY_FILE: key,
      REDIS_TLS_SERVERNAME: 'cache.example.com',
    });
    expect(redis.tls).toMatchObject({
      ca: PEM_CERT,
      cert: PEM_CERT,
      servername: 'cache.example.com',
      rejectUnauthorized: true,
    });
    expect(redis.tls?.key?.reveal()).toBe(PEM_KEY);
    expect(
      loadConfig({ REDIS_URL: 'rediss://h:1', REDIS_TLS_REJECT_UNAUTHORIZED: 'false' }).redis.tls,
    ).toMatchObject({ rejectUnauthorized: false, ca: undefined });
    // A plain URL with REDIS_TLS=true is TLS too.
    expect(loadConfig({ REDIS_URL: 'redis://h:1', REDIS_TLS: 'true' }).redis.tls).toBeDefined();

    const missing = `${files.path}/nope.pem`;
    expect(
      problemsOf({
        REDIS_URL: 'rediss://h:1',
        REDIS_TLS_CA_FILE: missing,
        REDIS_TLS_CERT_FILE: key,
        REDIS_TLS_REJECT_UNAUTHORIZED: 'maybe',
      }),
    ).toEqual([
      'REDIS_TLS_REJECT_UNAUTHORIZED must be true or false (got "maybe")',
      'REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both for a client certificate',
      `REDIS_TLS_CA_FILE: cannot read ${missing} (ENOENT)`,
      `REDIS_TLS_CERT_FILE: ${key} holds no PEM certificate`,
    ]);
  });

  it('refuses TLS settings while TLS is off', () => {
    expect(problemsOf({ REDIS_URL: 'redis://h:6379', REDIS_TLS_CA_FILE: ca })).toEqual([
      'REDIS_TLS_CA_FILE is set but TLS is off: use a rediss:// REDIS_URL, or REDIS_TLS=true with REDIS_SENTINELS or REDIS_CLUSTER_NODES',
    ]);
    expect(problemsOf({ REDIS_TLS: 'sometimes' })).toEqual([
      'REDIS_TLS must be true or false (got "sometimes")',
    ]);
  });

  it('reads a Sentinel setup', () => {
    const { redis } = loadConfig({
      REDIS_SENTINELS: 'sentinel-a:26379, sentinel-b:26379,[fd00::3]:26380',
      REDIS_SENTINEL_NAME: 'actionwatch',
      REDIS_SENTINEL_USERNAME: 'watcher',
      REDIS_SENTINEL_PASSWORD: 'spw',
      REDIS_USERNAME: 'app',
      REDIS_PASSWORD: 'pw',
    });
    expect(redis).toMatchObject({
      kind: 'sentinel',
      name: 'actionwatch',
      sentinels: [
        { host: 'sentinel-a', port: 26379 },
        { host: 'sentinel-b', port: 26379 },
        { host: 'fd00::3', port: 26380 },
      ],
      auth: { username: 'app' },
      sentinelAuth: { username: 'watcher' },
      tls: undefined,
    });
    if (redis.kind !== 'sentinel') throw new Error('not a sentinel target');
    expect(redis.sentinelAuth.password?.reveal()).toBe('spw');
    expect(describeRedisTarget(redis)).toBe(
      'Sentinel primary "actionwatch" via sentinel-a:26379,sentinel-b:26379,[fd00::3]:26380 as app',
    );
  });

  it('reads a Cluster, with TLS from REDIS_TLS', () => {
    const { redis } = loadConfig({
      REDIS_CLUSTER_NODES: 'node-1:6379,node-2:6379',
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: ca,
    });
    expect(redis).toMatchObject({
      kind: 'cluster',
      nodes: [
        { host: 'node-1', port: 6379 },
        { host: 'node-2', port: 6379 },
      ],
      tls: { ca: PEM_CERT, rejectUnauthorized: true },
    });
    expect(describeRedisTarget(redis)).toBe('Cluster node-1:6379,node-2:6379 over TLS');
  });

  it('names every wrong Redis variable, beside the other variables', () => {
    expect(
      problemsOf({
        REDIS_URL: 'redis://h:6379',
        REDIS_SENTINELS: 'a:26379,b',
        REDIS_CLUSTER_NODES: 'c:99999',
        LOG_LEVEL: 'loud',
      }),
    ).toEqual([
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
      'REDIS_SENTINELS must list host:port pairs separated by commas (got "b" in "a:26379,b")',
      'REDIS_CLUSTER_NODES must list host:port pairs separated by commas (got "c:99999" in "c:99999")',
      'REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: a Redis is either one or the other',
      'REDIS_URL and REDIS_SENTINELS are both set: name the Redis one way (REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS carry what the URL would)',
      'REDIS_SENTINEL_NAME is required with REDIS_SENTINELS: the name of the monitored primary',
    ]);
    expect(problemsOf({ REDIS_SENTINEL_PASSWORD: 'x' })).toEqual([
      'REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://h:6379/cache' })).toEqual([
      'REDIS_URL\'s path must be a database number such as /0 (got "/cache")',
    ]);
    expect(problemsOf({ REDIS_URL: 'http://h:6379' })).toEqual([
      'REDIS_URL must start with redis:// or rediss://',
    ]);
  });

  it('passes on the Redis variables that are set, or the default URL', () => {
    expect(
      redisVariables({ PATH: '/bin', REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_TLS: '' }),
    ).toEqual({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm' });
    expect(redisVariables({})).toEqual({ REDIS_URL: 'redis://127.0.0.1:6379' });
  });

  it('lists every Redis variable in .env.example and the README configuration table', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## How it works'));
    for (const name of REDIS_VARIABLES) {
      expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
      expect(table).toContain(`\`${name}\``);
    }
  });
});
