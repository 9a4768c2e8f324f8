import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Simulator } from '../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix, type Redis } from '../src/support/redis.js';
import { exited, runCli, startCli } from './support/cli.js';
import { REDIS_ENV, REDIS_TARGET, SIM_TOKEN, testPrefix, until } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

describe('the actionwatch CLI', () => {
  let simulator: Simulator;
  let redis: Redis;
  const prefix = testPrefix('cli');
  const temp = new TempDir('aw-cli');
  let env: Record<string, string>;
  const keyCount = async () => (await redis.keys(`${prefix}:*`)).length;

  beforeAll(async () => {
    simulator = await Simulator.start({ tokens: [SIM_TOKEN], rateLimit: false });
    redis = createRedis(REDIS_TARGET);
    env = {
      ...REDIS_ENV,
      ACTIONWATCH_PREFIX: prefix,
      DIGITALOCEAN_API_URL: simulator.url,
      DIGITALOCEAN_TOKEN: SIM_TOKEN,
      POLL_MIN_INTERVAL: '200ms',
      POLL_MAX_INTERVAL: '1s',
    };
  });

  afterAll(async () => {
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await simulator.close();
    temp.remove();
  });

  describe('refuses bad input with one clear line and enqueues nothing', () => {
    const file = (text: string) => temp.file(text);
    it.each([
      [['watch', 'spaceship', '1', '2'], /kind must be one of droplet, image, volume/],
      [['watch', 'volume', '1', '2'], /resourceId of a volume must be its UUID/],
      [['watch', 'action', '1', '2'], /usage: actionwatch watch/],
      [['watch', 'droplet', '0', '2'], /resourceId must be a positive whole number/],
      [['watch', 'droplet', '1', '2.5'], /actionId must be a positive whole number/],
      [['watch', 'droplet', '1', '-2'], /actionId must be a positive whole number/],
      [['watch', 'droplet', '1'], /usage: actionwatch watch/],
      [['watch', 'droplet', '1', '2', '--bogus'], /unknown option '--bogus'/],
      [['watch', 'droplet', '1', '2', '--timeout', 'soon'], /timeout must be a positive duration/],
      [['watch', 'droplet', '1', '2', '--webhook', 'ftp://x'], /http or https/],
      [['watch', 'droplet', '1', '2', '--token-profile', 'team-b'], /--token-profile: token profile must be/],
      [
        ['watch', 'droplet', '1', '--in-progress', '--timeout', 'soon'],
        /--timeout must be a positive duration/,
      ],
      [['watch', 'droplet', '1', '--in-progress', '--on', 'errored'], /--on filters a --webhook: give one/],
      [['wait', 'image', 'x', '2'], /resourceId must be a positive whole number/],
      [['cancel', 'not-an-id'], /watch id must look like/],
      [['list', '--state', 'sleeping'], /argument 'sleeping' is invalid/],
      [['worker', '--concurrency', '0'], /--concurrency must be a positive whole number/],
      [
        ['watch', 'droplet', '1', '2', '--timout', '3h'],
        /^actionwatch: unknown option '--timout' \(did you mean --timeout\?\)\n$/,
      ],
      [['lsit'], /^actionwatch: unknown command 'lsit' \(did you mean list\?\)\n$/],
      [['wait', 'droplet'], /^actionwatch: missing required argument 'resourceId'\n$/],
      [
        ['chain', temp.file('name: x\nsteps:\n  - id: a: b\n', 'nested.yaml')],
        /^actionwatch: .*nested\.yaml:3:9: not valid YAML: Nested mappings are not allowed in compact mappings\n$/,
      ],
      [
        ['chain', temp.file('{\n  "name": "x",\n  "steps": [,]\n}\n', 'comma.json')],
        /^actionwatch: .*comma\.json:3:13: not valid JSON: Unexpected token/,
      ],
    ])('%j', async (args, message) => {
      const result = await runCli(args, env);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^actionwatch: /);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
      expect(await keyCount()).toBe(0);
    });

    it('a file with one bad line enqueues none of its lines', async () => {
      const path = file(
        '{"kind":"droplet","resourceId":1,"actionId":2}\n{"kind":"droplet","resourceId":1,"actionId":"x"}\n{"kind":"image","resourceId":3,"actionId":4}\n',
      );
      const result = await runCli(['watch', '--from-file', path], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/:2: actionId must be a positive whole number .*nothing was enqueued/);
      expect(await keyCount()).toBe(0);
    });

    it('stdin with a bad line enqueues nothing', async () => {
      const result = await runCli(
        ['watch', '--from-file', '-'],
        env,
        '{"kind":"droplet","resourceId":1,"actionId":2}\n{oops\n',
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^actionwatch: stdin:2:2: not valid JSON: /);
      expect(await keyCount()).toBe(0);
    });

    it('an unreachable Redis', async () => {
      const result = await runCli(['watch', 'droplet', '1', '2'], {
        ...env,
        REDIS_URL: 'redis://127.0.0.1:1',
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /Redis at 127.0.0.1:1 refused the connection.*docker compose up -d redis/,
      );
    });

    it.each([
      [['worker'], 'worker needs it to poll DigitalOcean'],
      [['run', 'droplet', '1', 'reboot'], 'run needs it to start actions'],
      [['actions', 'droplet', '1'], 'actions needs it to list actions'],
      [['watch', 'droplet', '1', '--in-progress'], 'watch --in-progress lists actions with it'],
      [
        ['wait', 'droplet', '1', '2', '--with-worker'],
        'wait --with-worker needs it: the worker in this process polls DigitalOcean',
      ],
    ])('without a token, %j names the command that needs one', async (args, purpose) => {
      const { DIGITALOCEAN_TOKEN: _token, ...noToken } = env;
      const result = await runCli(args, noToken);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `actionwatch: invalid configuration: DIGITALOCEAN_TOKEN is not set (or DIGITALOCEAN_ACCESS_TOKEN): ${purpose}\n`,
      );
      expect(await keyCount()).toBe(0);
    });

    it('a wrong configuration value', async () => {
      const result = await runCli(['list'], { ...env, RATE_LIMIT_PER_HOUR: 'lots' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/RATE_LIMIT_PER_HOUR must be a whole number/);
    });
  });

  it('watch, list and cancel print watches as JSON', async () => {
    const action = simulator.createAction({ kind: 'droplet', resourceId: 11, durationMs: 600_000 });
    const watched = await runCli(['watch', 'droplet', '11', String(action.id), '--timeout', '2h'], env);
    expect(watched.code).toBe(0);
    const watch = JSON.parse(watched.stdout);
    expect(watch).toMatchObject({
      id: `droplet-11-${action.id}`,
      kind: 'droplet',
      resourceId: 11,
      actionId: action.id,
      state: 'waiting',
      outcome: null,
      action: null,
      polls: 0,
      finishedAt: null,
    });
    expect(Date.parse(watch.deadlineAt) - Date.parse(watch.enqueuedAt)).toBe(7_200_000);

    const bulk = await runCli(
      ['watch', '--from-file', '-'],
      env,
      `{"kind":"image","resourceId":12,"actionId":13}\n{"kind":"droplet","resourceId":11,"actionId":${action.id}}\n`,
    );
    expect(bulk.code).toBe(0);
    expect(
      bulk.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).id),
    ).toEqual(['image-12-13', `droplet-11-${action.id}`]);

    const listed = await runCli(['list', '--state', 'waiting'], env);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).id)
        .sort(),
    ).toEqual([`droplet-11-${action.id}`, 'image-12-13'].sort());

    const cancelled = await runCli(['cancel', `droplet-11-${action.id}`], env);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ state: 'done', outcome: 'cancelled' });
    const missing = await runCli(['cancel', 'droplet-1-1'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no watch with id droplet-1-1/);
    await runCli(['cancel', 'image-12-13'], env);
  });

  it('wait prints the final action and exits with the outcome’s code', async () => {
    const ok = simulator.createAction({ kind: 'image', resourceId: 21, type: 'transfer', durationMs: 500 });
    const bad = simulator.createAction({
      kind: 'droplet',
      resourceId: 22,
      durationMs: 300,
      result: 'errored',
    });
    const completed = await runCli(['wait', 'image', '21', String(ok.id), '--with-worker'], env);
    expect(completed.code).toBe(0);
    expect(JSON.parse(completed.stdout)).toMatchObject({ id: ok.id, status: 'completed', type: 'transfer' });
    const errored = await runCli(['wait', 'droplet', '22', String(bad.id), '--with-worker'], env);
    expect(errored.code).toBe(2);
    expect(JSON.parse(errored.stdout)).toMatchObject({ id: bad.id, status: 'errored' });
    const missing = await runCli(['wait', 'droplet', '23', '424242', '--with-worker'], env);
    expect(missing.code).toBe(3);
    const timedOut = await runCli(
      [
        'wait',
        'droplet',
        '24',
        String(simulator.createAction({ kind: 'droplet', resourceId: 24, durationMs: 600_000 }).id),
        '--with-worker',
        '--timeout',
        '1s',
      ],
      env,
    );
    expect(timedOut.code).toBe(4);
  });

  it('a worker stops cleanly on SIGTERM', async () => {
    const worker = startCli(['worker', '--concurrency', '2'], env);
    await until(() => (worker.output().includes('worker started') ? true : undefined), 10_000);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    expect(worker.output()).toContain('worker stopped');
  });
});
