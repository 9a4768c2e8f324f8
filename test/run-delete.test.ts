import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/http/server.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { startLocalReceiver } from '../src/notifications/webhooks/local-receiver.js';
import { RunKeys } from '../src/runs/run-keys.js';
import type { Watch } from '../src/watches/watch.js';
import { parseWatchId } from '../src/watches/watch-ref.js';
import { runCli } from './support/cli.js';
import { SimulatorProxy } from './support/simulator-proxy.js';
import { type Stack, startStack, until } from './support/stack.js';

const DELETE_ROUTE = 'DELETE /v2/droplets/:droplet_id';
const GET_ROUTE = 'GET /v2/droplets/:droplet_id';
/** A deleted droplet still answers GET this long: its watch is seen waiting before it ends. */
const DELETE_DELAY_MS = 1_200;
const API_TOKEN = 'api-token-for-run-delete-tests-0123456789';
const SECRET = `whsec_${Buffer.from('run-delete-test-secret-0123').toString('base64')}`;

/** One line of `run droplet delete`. */
interface DeleteLine {
  started: boolean;
  recovered: boolean;
  alreadyGone: boolean;
  watch: Watch;
}

/** The simulator's answers to one route about one droplet, in order (200, 404, …). */
function answers(stack: Stack, route: string, since: number): Array<number | 'dropped'> {
  return stack.simulator
    .requestLog()
    .filter((entry) => entry.route === route && entry.arrivedAt >= since)
    .map((entry) => entry.status);
}

describe('actionwatch run droplet delete', () => {
  let stack: Stack;
  let env: Record<string, string>;
  let keys: RunKeys;

  beforeAll(async () => {
    const extra = { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE: 'true' };
    stack = await startStack({
      name: 'run-delete',
      simulator: { deleteDelayMs: DELETE_DELAY_MS },
      env: { ...extra, OBSERVE_MODE: 'direct', API_TOKEN },
    });
    env = stack.processEnv(extra);
    keys = new RunKeys(stack.runtime.redis, { prefix: stack.prefix, retentionMs: 60_000 });
    await stack.runtime.startWorker({ concurrency: 8 });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('with --wait, on a direct worker, ends completed once GET /v2/droplets/{id} answers 404', async () => {
    stack.simulator.ensureResource('droplet', 71_001);
    const since = Date.now();
    const result = await runCli(['run', 'droplet', 'delete', '71001', '--wait'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // A delete has no action: the outcome's action is null.
    expect(result.stdout.trim()).toBe('null');
    expect(answers(stack, DELETE_ROUTE, since)).toEqual([204]);
    const gets = answers(stack, GET_ROUTE, since);
    expect(gets[0]).toBe(200);
    expect(gets.at(-1)).toBe(404);
    const watch = await stack.runtime.watches.get('droplet-71001-deleted');
    expect(watch).toMatchObject({
      id: 'droplet-71001-deleted',
      kind: 'droplet',
      resourceId: 71_001,
      actionId: null,
      awaits: 'deletion',
      state: 'done',
      outcome: 'completed',
      action: null,
    });
    expect(watch?.polls).toBe(gets.length);
    expect(watch?.polls).toBeGreaterThanOrEqual(2);

    // The HTTP API takes the id and answers the watch as its JSON names it (awaits kept).
    const app = await buildServer(stack.runtime, { readinessCacheMs: 0 });
    try {
      const response = await app.inject({
        method: 'GET',
        url: '/v1/watches/droplet-71001-deleted',
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        id: 'droplet-71001-deleted',
        actionId: null,
        awaits: 'deletion',
      });
    } finally {
      await app.close();
    }
  });

  it('prints one line with the waiting deletion watch; show, list and cancel take its id', async () => {
    stack.simulator.ensureResource('droplet', 71_002);
    // DigitalOcean accepts the DELETE but the droplet stays: the watch waits until cancelled.
    stack.simulator.injectFault({
      kind: 'status',
      status: 204,
      method: 'DELETE',
      path: '^/v2/droplets/71002$',
    });
    const result = await runCli(['run', 'droplet', 'delete', '71002'], env);
    expect(result.code).toBe(0);
    const [line, ...more] = result.stdout.trim().split('\n');
    expect(more).toEqual([]);
    expect(JSON.parse(line as string) as DeleteLine).toMatchObject({
      started: true,
      recovered: false,
      alreadyGone: false,
      watch: { id: 'droplet-71002-deleted', actionId: null, awaits: 'deletion', state: 'waiting' },
    });
    await until(async () => ((await stack.runtime.watches.get('droplet-71002-deleted'))?.polls ?? 0) >= 1);

    const shown = await runCli(['show', 'droplet-71002-deleted'], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: 'droplet-71002-deleted', state: 'waiting' });
    const listed = await runCli(['list', '--state', 'waiting'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('"droplet-71002-deleted"');
    const cancelled = await runCli(['cancel', 'droplet-71002-deleted'], env);
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({
      id: 'droplet-71002-deleted',
      actionId: null,
      awaits: 'deletion',
      outcome: 'cancelled',
    });
    // The cancelled job finishes at its next step instead of polling on (its delay is under 1 s).
    await until(async () =>
      (await stack.runtime.watches.queue.getJob('droplet-71002-deleted'))?.isCompleted(),
    );
  });

  it('with the same --key twice, sends one DELETE and returns the same watch', async () => {
    stack.simulator.ensureResource('droplet', 71_003);
    const since = Date.now();
    const args = ['run', 'droplet', 'delete', '71003', '--key', 'retire-71003'];
    const first = await runCli(args, env);
    const second = await runCli(args, env);
    expect([first.code, second.code]).toEqual([0, 0]);
    const [one, two] = [first, second].map((run) => JSON.parse(run.stdout) as DeleteLine);
    expect(one).toMatchObject({ started: true, watch: { id: 'droplet-71003-deleted' } });
    expect(two).toMatchObject({ started: false, recovered: false, watch: { id: 'droplet-71003-deleted' } });
    expect(answers(stack, DELETE_ROUTE, since)).toEqual([204]);
    expect((await keys.get('retire-71003'))?.record).toMatchObject({
      state: 'deleted',
      dropletId: 71_003,
      alreadyGone: false,
    });
    // The key is bound to its droplet.
    const other = await runCli(['run', 'droplet', 'delete', '71004', '--key', 'retire-71003'], env);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/key retire-71003 was already used to start a different action/);
    expect(answers(stack, DELETE_ROUTE, since)).toEqual([204]);
    const outcome = await stack.runtime.waitForOutcome('droplet-71003-deleted', { timeoutMs: 15_000 });
    expect(outcome?.outcome).toBe('completed');
  });

  it('a droplet already gone (404) is said so on stderr and its watch still ends completed', async () => {
    const since = Date.now();
    const result = await runCli(['run', 'droplet', 'delete', '79999', '--wait'], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('actionwatch: droplet 79999 was already gone (DigitalOcean answered 404)\n');
    expect(result.stdout.trim()).toBe('null');
    expect(answers(stack, DELETE_ROUTE, since)).toEqual([404]);
    expect(await stack.runtime.watches.outcomes.get('droplet-79999-deleted')).toMatchObject({
      type: 'action.completed',
      outcome: 'completed',
      watch: { actionId: null, awaits: 'deletion', polls: 1 },
      action: null,
    });
  });

  it('a droplet that never goes away ends timed_out at the deadline (exit 4)', async () => {
    stack.simulator.ensureResource('droplet', 71_005);
    stack.simulator.injectFault({
      kind: 'status',
      status: 204,
      method: 'DELETE',
      path: '^/v2/droplets/71005$',
    });
    const started = Date.now();
    const result = await runCli(['run', 'droplet', 'delete', '71005', '--timeout', '2s', '--wait'], env);
    expect(result.code).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    const record = await stack.runtime.watches.outcomes.get('droplet-71005-deleted');
    expect(record).toMatchObject({ outcome: 'timed_out', action: null, watch: { awaits: 'deletion' } });
    expect(record?.reason).toMatch(/^droplet 71005 still existed at the deadline /);
    expect(stack.simulator.getDroplet(71_005)).toBeDefined();
  });

  it('delivers a signed webhook whose watch has actionId null and awaits deletion', async () => {
    const received: unknown[] = [];
    const receiver = await startLocalReceiver({
      secret: SECRET,
      onMessage: (message) => {
        if (message.verified) received.push(message.payload);
      },
    });
    try {
      stack.simulator.ensureResource('droplet', 71_006);
      const watcher = ActionWatcher.fromRuntime(stack.runtime);
      const result = await watcher.deleteDroplet(71_006, { webhooks: [receiver.url], timeout: '1m' });
      expect(result).toMatchObject({ started: true, alreadyGone: false });
      const outcome = await watcher.waitFor(result.watch, { timeout: '15s' });
      expect(outcome.outcome).toBe('completed');
      await until(() => received.length > 0);
      expect(received).toEqual([
        {
          type: 'action.completed',
          timestamp: outcome.watch.finishedAt,
          data: {
            watch: {
              id: 'droplet-71006-deleted',
              kind: 'droplet',
              resourceId: 71_006,
              actionId: null,
              awaits: 'deletion',
              enqueuedAt: outcome.watch.enqueuedAt,
              finishedAt: outcome.watch.finishedAt,
            },
            action: null,
          },
        },
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('a DELETE whose answer was lost is recorded under its key, never sent again, and its watch tells', async () => {
    const proxy = await SimulatorProxy.start(stack.simulator.url);
    try {
      stack.simulator.ensureResource('droplet', 71_007);
      const watcher = ActionWatcher.fromRuntime(stack.another({ DIGITALOCEAN_API_URL: proxy.url }));
      proxy.loseAnswers('DELETE', /^\/v2\/droplets\/71007$/);
      const since = Date.now();
      const first = await watcher.deleteDroplet(71_007, { key: 'lost-delete' });
      expect(proxy.lost).toEqual(['DELETE /v2/droplets/71007']);
      expect(first).toMatchObject({ started: false, recovered: true, alreadyGone: false });
      expect((await keys.get('lost-delete'))?.record).toMatchObject({ state: 'deleted', dropletId: 71_007 });
      const again = await watcher.deleteDroplet(71_007, { key: 'lost-delete' });
      expect(again).toMatchObject({
        started: false,
        recovered: false,
        watch: { id: 'droplet-71007-deleted' },
      });
      expect(answers(stack, DELETE_ROUTE, since)).toEqual([204]);
      expect((await watcher.waitFor(first.watch, { timeout: '15s' })).outcome).toBe('completed');
    } finally {
      await proxy.close();
    }
  });

  it('watch droplet <id> deleted joins or starts the deletion watch without a DELETE; wait blocks on it', async () => {
    stack.simulator.ensureResource('droplet', 71_008);
    const since = Date.now();
    const watched = await runCli(['watch', 'droplet', '71008', 'deleted'], env);
    expect(watched.code).toBe(0);
    expect(JSON.parse(watched.stdout)).toMatchObject({
      id: 'droplet-71008-deleted',
      actionId: null,
      awaits: 'deletion',
      state: 'waiting',
    });
    // Deleted elsewhere (the console, Terraform): the watch sees it gone.
    stack.simulator.deleteResource('droplet', 71_008);
    const waited = await runCli(['wait', 'droplet', '71008', 'deleted'], env);
    expect(waited.code).toBe(0);
    expect(waited.stdout.trim()).toBe('null');
    expect(answers(stack, DELETE_ROUTE, since)).toEqual([]);
    const refused = await runCli(['watch', 'image', '7', 'deleted'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/actionId must be a positive whole number \(got "deleted"\)/);
  });

  it('reads deletion ids back and keeps every action id as it was', () => {
    expect(parseWatchId('droplet-5-deleted')).toEqual({
      kind: 'droplet',
      resourceId: 5,
      actionId: null,
      awaits: 'deletion',
    });
    expect(parseWatchId('team_b.droplet-5-deleted')).toMatchObject({ resourceId: 5, tokenProfile: 'team_b' });
    expect(parseWatchId('droplet-5-7')).toEqual({ kind: 'droplet', resourceId: 5, actionId: 7 });
    expect(parseWatchId('image-5-deleted')).toBeUndefined();
    expect(parseWatchId('droplet-0-deleted')).toBeUndefined();
  });

  it.concurrent.each([
    [['run', 'droplet', 'delete', 'web-1'], /dropletId must be a positive whole number \(got "web-1"\)/],
    [['run', 'droplet', 'delete', '0'], /dropletId must be a positive whole number/],
    [['run', 'droplet', 'delete'], /run droplet delete needs the droplet id/],
    [['run', 'droplet', 'delete', '5', 'reboot'], /too many arguments/],
    [['run', 'droplet', 'delete', '5', '--param', 'x=1'], /--param is not for run droplet delete/],
    [['run', 'droplet', 'delete', '5', '--region', 'nyc3'], /--region is not for run droplet delete/],
    [['run', 'droplet', 'delete', '5', '--name', 'a'], /--name is not for run droplet delete/],
    [['run', 'droplet', 'delete', '5', '--key', 'a b'], /--key must be/],
  ])('refuses %j in one line, sending nothing', async (args, message) => {
    const since = Date.now();
    const result = await runCli(args, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(answers(stack, DELETE_ROUTE, since)).toEqual([]);
  });
});

describe('run droplet delete on a batched worker', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      name: 'run-delete-batched',
      simulator: { deleteDelayMs: DELETE_DELAY_MS },
      env: { OBSERVE_MODE: 'batched' },
    });
    await stack.runtime.startWorker({ concurrency: 8, webhooks: false });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('observes the deletion with its own GETs, never a list, and ends completed on the 404', async () => {
    stack.simulator.ensureResource('droplet', 72_001);
    const since = Date.now();
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const { watch } = await watcher.deleteDroplet(72_001, { timeout: '1m' });
    expect(watch).toMatchObject({ id: 'droplet-72001-deleted', actionId: null, awaits: 'deletion' });
    const outcome = await watcher.waitFor(watch, { timeout: '15s' });
    expect(outcome).toMatchObject({ outcome: 'completed', action: null });
    const gets = answers(stack, GET_ROUTE, since);
    expect(gets[0]).toBe(200);
    expect(gets.at(-1)).toBe(404);
    expect(outcome.watch.polls).toBe(gets.length);
  });
});
