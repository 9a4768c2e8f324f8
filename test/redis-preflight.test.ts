import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { verifyRedis } from '../src/support/redis-preflight.js';
import { runCli } from './support/cli.js';
import { freePort, hasRedisServer, type PrivateRedis, startPrivateRedis } from './support/private-redis.js';
import { REDIS_URL, type Stack, startStack, testPrefix, urlTarget } from './support/stack.js';

/** What a command prints on stderr when Redis cannot be used: exactly one `actionwatch:` line. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^actionwatch: /);
  return lines[0] as string;
}

describe('every command proves its Redis usable before writing', () => {
  let stack: Stack;
  // A Redis of the test's own for what the shared one must not be changed for: a password, eviction.
  let evicting: PrivateRedis | undefined;
  // The commands' own prefix: the stack's Runtime writes its queue's meta key under its prefix.
  const prefix = testPrefix('redis-preflight-cli');
  const keysInDb0 = async () => (await stack.runtime.redis.keys(`${prefix}:*`)).length;
  const withRedisUrl = (url: string) => stack.processEnv({ REDIS_URL: url, ACTIONWATCH_PREFIX: prefix });

  beforeAll(async () => {
    stack = await startStack({ name: 'redis-preflight' });
    if (hasRedisServer)
      evicting = await startPrivateRedis(['--requirepass', 'pw-16a', '--maxmemory-policy', 'allkeys-lru']);
  });

  afterAll(async () => {
    await evicting?.stop();
    await deleteKeysWithPrefix(stack.runtime.redis, prefix);
    await stack.close();
  });

  describe('a database the server does not have stops every command, and nothing lands in db 0', () => {
    const url = `${REDIS_URL.replace(/\/\d*$/, '')}/99`;
    it.each([
      [['watch', 'droplet', '1', '2']],
      [['wait', 'droplet', '1', '2', '--with-worker']],
      [['run', 'droplet', '1', 'reboot']],
      [['list']],
      [['cancel', 'droplet-1-2']],
      [['worker']],
      [['serve', '--port', '0']],
    ])('%j', async (args) => {
      const result = await runCli(args, withRedisUrl(url));
      expect(result.code).toBe(1);
      expect(oneLine(result.stderr)).toMatch(
        /has no database 99 \(it has \d+: 0 to \d+\).*nothing was written/,
      );
      expect(result.stdout).toBe('');
      expect(await keysInDb0()).toBe(0);
    });

    it('connections made past the check (BullMQ duplicates included) fail rather than use db 0', async () => {
      const wrong = createRedis(urlTarget(url), { forWorker: true });
      const duplicate = wrong.duplicate();
      const errors: string[] = [];
      for (const client of [wrong, duplicate]) client.on('error', (error) => errors.push(error.message));
      const writes = await Promise.allSettled([
        wrong.set(`${prefix}:guard-a`, '1'),
        duplicate.set(`${prefix}:guard-b`, '1'),
      ]);
      expect(writes.map((write) => write.status)).toEqual(['rejected', 'rejected']);
      expect(errors.filter((message) => /refused database 99/.test(message))).toHaveLength(2);
      expect(await keysInDb0()).toBe(0);
      wrong.disconnect();
      duplicate.disconnect();
    });

    it('the check names the database on any client, a guarded one that closed itself included', async () => {
      const guarded = createRedis(urlTarget(url));
      guarded.on('error', () => {});
      await expect(verifyRedis(guarded, { label: 'the test Redis' })).rejects.toMatchObject({
        failure: 'database',
        message: expect.stringMatching(/^Redis at the test Redis has no database 99/),
      });
      guarded.disconnect();
    });
  });

  it('an unresolvable host is named as a DNS failure', async () => {
    const result = await runCli(['list'], withRedisUrl('redis://actionwatch-no-such-host.invalid:6379'));
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(
      /the Redis host actionwatch-no-such-host\.invalid (does not resolve \(ENOTFOUND\)|could not be looked up \(EAI_AGAIN)/,
    );
  });

  it('a port nothing listens on is named as a refused connection', async () => {
    const port = await freePort();
    const result = await runCli(['watch', 'droplet', '1', '2'], withRedisUrl(`redis://127.0.0.1:${port}`));
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(
      new RegExp(`Redis at 127\\.0\\.0\\.1:${port} refused the connection \\(ECONNREFUSED`),
    );
  });

  it('a wrong user name or password is named as such, and the password is not printed', async () => {
    const url = REDIS_URL.replace('redis://', 'redis://actionwatch-nobody:not-the-password@');
    const result = await runCli(['list'], withRedisUrl(url));
    expect(result.code).toBe(1);
    const line = oneLine(result.stderr);
    expect(line).toMatch(/refused the user name or password \(WRONGPASS\)/);
    expect(line).not.toContain('not-the-password');
  });

  it.skipIf(!hasRedisServer)('no password, when one is required, is named as NOAUTH', async () => {
    const result = await runCli(['list'], withRedisUrl(`redis://127.0.0.1:${evicting?.port}`));
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/requires a password \(NOAUTH\): put it in REDIS_URL/);
  });

  it.skipIf(!hasRedisServer)('a wrong password is named as WRONGPASS', async () => {
    const result = await runCli(['list'], withRedisUrl(`redis://:wrong@127.0.0.1:${evicting?.port}`));
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/refused the user name or password \(WRONGPASS\)/);
  });

  it.skipIf(!hasRedisServer)(
    'an eviction policy other than noeviction is one warning line, and the command goes on',
    async () => {
      const result = await runCli(['list'], withRedisUrl(`redis://:pw-16a@127.0.0.1:${evicting?.port}/2`));
      expect(result.code).toBe(0);
      const warnings = result.stderr.split('\n').filter((line) => line.startsWith('actionwatch:'));
      expect(warnings).toEqual([
        'actionwatch: warning: Redis maxmemory-policy is allkeys-lru: when memory runs short Redis deletes keys, watches and their outcomes among them; set it to noeviction',
      ]);
    },
  );
});
