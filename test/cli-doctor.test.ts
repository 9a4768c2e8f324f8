import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { freePort as closedPort } from './support/free-port.js';
import { REDIS_ENV, type Stack, startStack } from './support/stack.js';

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

const SECRET = `whsec_${Buffer.from('doctor-test-secret-of-32-bytes!!').toString('base64')}`;

/** `doctor`'s text lines as [status, check, detail]. */
function textLines(stdout: string): Array<[string, string, string]> {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [, status = '', check = '', detail = ''] = /^(\S+)\s+(.+?)\s{2,}(.*)$/.exec(line) ?? [];
      return [status, check, detail];
    });
}

describe('actionwatch doctor', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      name: 'cli-doctor',
      simulator: { rateLimit: { perMinute: 250, perHour: 5000 } },
    });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('without workers: warns per queue, says the token is accepted with its budget, exits 0', async () => {
    const result = await runCli(['doctor'], stack.processEnv());
    expect(result.code).toBe(0);
    const lines = textLines(result.stdout);
    expect(lines.map(([, check]) => check)).toEqual([
      'redis',
      'redis persistence',
      'redis eviction',
      'token',
      'workers watches',
      'workers chains',
      'workers deliveries',
      'webhook secret',
      'api',
    ]);
    const byCheck = new Map(lines.map(([status, check, detail]) => [check, { status, detail }]));
    expect(byCheck.get('redis')).toEqual({
      status: 'ok',
      detail: expect.stringMatching(/^redis:\/\/127\.0\.0\.1:6379\/? answers \(Redis [\d.]+, database 0\)$/),
    });
    expect(byCheck.get('token')).toEqual({
      status: 'ok',
      detail: expect.stringMatching(/^accepted; \d+ of 5000 requests left this hour, oldest expires \d{4}-/),
    });
    expect(byCheck.get('workers watches')).toEqual({
      status: 'warn',
      detail: expect.stringMatching(/none alive.*actionwatch worker/),
    });
    expect(byCheck.get('webhook secret')?.status).toBe('warn');
    expect(byCheck.get('api')).toEqual({
      status: 'ok',
      detail: `the actionwatch simulator at ${stack.simulator.url}`,
    });
    expect(result.stdout).not.toContain('test-token');
  });

  it('with a worker and a secret: every queue has one alive; --output json gives one object per check', async () => {
    await stack.runtime.startWorker({ observeMode: 'direct' });
    await stack.runtime.startChainWorker();
    const result = await runCli(['doctor', '--output', 'json'], stack.processEnv({ WEBHOOK_SECRET: SECRET }));
    expect(result.code).toBe(0);
    const checks = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Check);
    const status = Object.fromEntries(checks.map((check) => [check.check, check.status]));
    expect(status).toMatchObject({
      redis: 'ok',
      token: 'ok',
      'workers watches': 'ok',
      'workers chains': 'ok',
      'workers deliveries': 'ok',
      'webhook secret': 'ok',
      api: 'ok',
    });
    expect(checks.find((check) => check.check === 'workers watches')?.detail).toBe('1 alive');
    expect(['ok', 'warn']).toContain(status['redis persistence']);
    expect(result.stdout).not.toContain(SECRET);
  });

  it('a refused token fails its line and exits 1', async () => {
    const result = await runCli(['doctor'], stack.processEnv({ DIGITALOCEAN_TOKEN: 'not-the-token' }));
    expect(result.code).toBe(1);
    const token = textLines(result.stdout).find(([, check]) => check === 'token');
    expect(token?.[0]).toBe('FAIL');
    expect(token?.[2]).toMatch(/401/);
    expect(result.stdout).not.toContain('not-the-token');
  });

  it('a missing token fails its line and exits 1', async () => {
    const result = await runCli(['doctor'], stack.processEnv({ DIGITALOCEAN_TOKEN: '' }));
    expect(result.code).toBe(1);
    const token = textLines(result.stdout).find(([, check]) => check === 'token');
    expect(token?.[0]).toBe('FAIL');
    expect(token?.[2]).toMatch(/DIGITALOCEAN_TOKEN is not set/);
  });

  it.each([
    ['a refused connection', async () => `redis://127.0.0.1:${await closedPort()}`, /ECONNREFUSED/],
    [
      'a database the server lacks',
      async () => `${(REDIS_ENV.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/99`,
      /has no database 99/,
    ],
  ])('Redis: %s fails the first line and exits 1', async (_name, url, reason) => {
    const result = await runCli(['doctor'], stack.processEnv({ REDIS_URL: await url() }));
    expect(result.code).toBe(1);
    const lines = textLines(result.stdout);
    expect(lines[0]?.[0]).toBe('FAIL');
    expect(lines[0]?.[1]).toBe('redis');
    expect(lines[0]?.[2]).toMatch(reason);
    expect(lines.map(([, check]) => check)).toEqual(['redis', 'token', 'webhook secret', 'api']);
  });
});
