import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import type { Watch } from '../src/watches/watch.js';
import { runCli } from './support/cli.js';
import { REDIS_ENV, SIM_TOKEN, type Stack, startStack } from './support/stack.js';

const LIST_DROPLET = 'GET /v2/droplets/:droplet_id/actions';

describe('discovering a resource’s actions through every page', () => {
  let stack: Stack;
  let env: Record<string, string>;
  const running: number[] = [];
  const lines = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .filter((line) => line !== '');

  beforeAll(async () => {
    stack = await startStack({ name: 'discover', simulator: { defaultDurationMs: 60_000 } });
    env = {
      ...REDIS_ENV,
      ACTIONWATCH_PREFIX: stack.prefix,
      DIGITALOCEAN_API_URL: stack.simulator.url,
      DIGITALOCEAN_TOKEN: SIM_TOKEN,
    };
    // 450 actions on one droplet (three pages of 200): in progress first, in the middle, last,
    // and one still showing the undocumented status `new`.
    const started = Date.now() - 3_600_000;
    for (let i = 0; i < 450; i++) {
      const unfinished = i === 0 || i === 230 || i === 449;
      const action = stack.simulator.createAction({
        kind: 'droplet',
        resourceId: 7701,
        type: i % 2 === 0 ? 'reboot' : 'power_cycle',
        startedAt: started + i * 1_000,
        durationMs: unfinished ? 7_200_000 : 500,
        ...(i === 300 ? { durationMs: 7_200_000, initialStatus: { status: 'new', forMs: 7_200_000 } } : {}),
      });
      if (unfinished || i === 300) running.push(action.id);
    }
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('actions prints every action of every page as JSON Lines, each once', async () => {
    const before = stack.simulator.stats().byRoute[LIST_DROPLET] ?? 0;
    const result = await runCli(['actions', 'droplet', '7701'], env);
    expect(result.code).toBe(0);
    const actions = lines(result.stdout).map((line) => JSON.parse(line) as Action);
    expect(actions).toHaveLength(450);
    expect(new Set(actions.map((action) => action.id)).size).toBe(450);
    expect((stack.simulator.stats().byRoute[LIST_DROPLET] ?? 0) - before).toBe(3);
  });

  it('watch --in-progress watches exactly the unfinished ones, on every page; again, it joins them', async () => {
    const result = await runCli(['watch', 'droplet', '7701', '--in-progress', '--timeout', '1h'], env);
    expect(result.code).toBe(0);
    const watches = lines(result.stdout).map((line) => JSON.parse(line) as Watch);
    expect(watches.map((watch) => watch.actionId).sort()).toEqual([...running].sort());
    expect(watches.every((watch) => watch.state === 'waiting')).toBe(true);
    const again = await runCli(['watch', 'droplet', '7701', '--in-progress'], env);
    expect(lines(again.stdout).map((line) => (JSON.parse(line) as Watch).enqueuedAt)).toEqual(
      watches.map((watch) => watch.enqueuedAt),
    );
    expect((await stack.runtime.watches.list({ state: 'waiting' })).watches).toHaveLength(4);
  });

  it('for images too, through the library; a resource with nothing running gets no watch', async () => {
    for (let i = 0; i < 5; i++)
      stack.simulator.createAction({ kind: 'image', resourceId: 7702, durationMs: i === 3 ? 7_200_000 : 0 });
    stack.simulator.ensureResource('image', 7703);
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const watched = await watcher.watchInProgress('image', 7702, { perPage: 2 });
    expect(watched).toHaveLength(1);
    expect(watched[0]).toMatchObject({ kind: 'image', resourceId: 7702, state: 'waiting' });
    expect(await watcher.watchInProgress('image', 7703)).toEqual([]);
  });

  it.concurrent.each([
    [
      ['watch', 'droplet', '7701', '5', '--in-progress'],
      /usage: actionwatch watch <kind> <resourceId> --in-progress/,
    ],
    [['watch', 'spaceship', '7701', '--in-progress'], /kind must be one of droplet, image, volume/],
    [['watch', 'volume', '7701', '--in-progress'], /resourceId of a volume must be its UUID/],
    [
      ['watch', 'nfs', '0b7c3e1a-5d2f-4c8e-9a61-3f0d2b8e7c45', '--in-progress'],
      /DigitalOcean lists no actions of a single nfs/,
    ],
    [['actions', 'droplet', 'x'], /resourceId must be a positive whole number/],
  ])('refuses %j in one line', async (args, message) => {
    const result = await runCli(args, env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});
