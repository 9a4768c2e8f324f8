import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import { NotFoundError } from '../src/errors/digitalocean-api-error.js';
import { type RunOutput, runCli } from './support/cli.js';
import { SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';

const POST_IMAGE = 'POST /v2/images/:image_id/actions';
const POST_DROPLET = 'POST /v2/droplets/:droplet_id/actions';

describe('actionwatch run: start an action and watch it', () => {
  let stack: Stack;
  let env: Record<string, string>;
  const posts = (route: string) => stack.simulator.stats().byRoute[route] ?? 0;

  beforeAll(async () => {
    stack = await startStack({
      name: 'run',
      simulator: { defaultDurationMs: 800, durationsByType: { snapshot: 1_000 } },
    });
    env = stack.processEnv();
    await stack.runtime.startWorker({ concurrency: 8, webhooks: false });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('transfers an image and, with --wait, blocks until it completed (exit 0, final action JSON)', async () => {
    stack.simulator.ensureResource('image', 7001);
    const before = posts(POST_IMAGE);
    const result = await runCli(['run', 'image', '7001', 'transfer', '--region', 'ams3', '--wait'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const action = JSON.parse(result.stdout) as Action;
    expect(action).toMatchObject({
      type: 'transfer',
      status: 'completed',
      resource_id: 7001,
      resource_type: 'image',
      region_slug: 'ams3',
    });
    expect(posts(POST_IMAGE) - before).toBe(1);
    const outcome = await stack.runtime.watches.outcomes.get(`image-7001-${action.id}`);
    expect(outcome?.outcome).toBe('completed');
  });

  it('converts an image and snapshots a droplet with --param, printing the started action and its watch', async () => {
    stack.simulator.ensureResource('image', 7002);
    const convert = await runCli(['run', 'image', '7002', 'convert'], env);
    expect(convert.code).toBe(0);
    const converted = JSON.parse(convert.stdout) as RunOutput;
    expect(converted).toMatchObject({ started: true, recovered: false, action: { type: 'convert' } });

    stack.simulator.ensureResource('droplet', 4001);
    const snapshot = await runCli(['run', 'droplet', '4001', 'snapshot', '--param', 'name=web-4001'], env);
    expect(snapshot.code).toBe(0);
    const started = JSON.parse(snapshot.stdout) as RunOutput;
    expect(started).toMatchObject({
      started: true,
      action: { type: 'snapshot', status: 'in-progress', resource_id: 4001 },
      watch: { id: `droplet-4001-${started.action.id}`, state: 'waiting' },
    });
    const [convertOutcome, snapshotOutcome] = await Promise.all([
      stack.runtime.waitForOutcome(converted.watch.id, { timeoutMs: 10_000 }),
      stack.runtime.waitForOutcome(started.watch.id, { timeoutMs: 10_000 }),
    ]);
    expect(convertOutcome?.outcome).toBe('completed');
    expect(snapshotOutcome?.outcome).toBe('completed');
    // The snapshot's image carries the name given with --param.
    const snapshots = [];
    for await (const entry of stack.runtime.client().iterateDropletSnapshots(4001)) snapshots.push(entry);
    expect(snapshots.map((entry) => entry.name)).toEqual(['web-4001']);
  });

  it('with the same --key, a retried run returns the first action and never starts a second', async () => {
    stack.simulator.ensureResource('image', 7003);
    const before = posts(POST_IMAGE);
    const args = ['run', 'image', '7003', 'transfer', '--region', 'sfo3', '--key', 'release-7003-sfo3'];
    const first = JSON.parse((await runCli(args, env)).stdout) as RunOutput;
    const again = await runCli(args, env);
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as RunOutput;
    expect(first.started).toBe(true);
    expect(second.started).toBe(false);
    expect(second.action.id).toBe(first.action.id);
    expect(second.watch.id).toBe(first.watch.id);
    expect(posts(POST_IMAGE) - before).toBe(1);

    const reused = await runCli(
      ['run', 'image', '7003', 'transfer', '--region', 'ams3', '--key', 'release-7003-sfo3'],
      env,
    );
    expect(reused.code).toBe(1);
    expect(reused.stderr).toMatch(/key release-7003-sfo3 was already used to start a different action/);
    expect(posts(POST_IMAGE) - before).toBe(1);
    const outcome = await stack.runtime.waitForOutcome(first.watch.id, { timeoutMs: 10_000 });
    expect(outcome?.outcome).toBe('completed');
  });

  it('concurrent starts with one key from two processes start exactly one action', async () => {
    stack.simulator.ensureResource('image', 7004);
    const other = stack.another();
    // Slow answers keep the first claim open while the others arrive.
    stack.simulator.injectFault({ kind: 'delay', delayMs: 400, method: 'POST', path: '^/v2/images/7004/' });
    const spec = { kind: 'image', resourceId: 7004, body: { type: 'transfer', region: 'lon1' } } as const;
    const before = posts(POST_IMAGE);
    const results = await Promise.all(
      [stack.runtime, other, stack.runtime, other].map((runtime) =>
        runtime.actionStarter().start(spec, { key: 'concurrent-7004' }),
      ),
    );
    stack.simulator.clearFaults();
    expect(new Set(results.map((result) => result.action.id)).size).toBe(1);
    expect(results.filter((result) => result.started)).toHaveLength(1);
    expect(posts(POST_IMAGE) - before).toBe(1);
  });

  it('a busy droplet (422 pending event) is reported in one clear line, and nothing is watched', async () => {
    // Busy for the whole test, however slowly the CLI starts.
    stack.simulator.createAction({
      kind: 'droplet',
      resourceId: 4002,
      type: 'resize',
      durationMs: 3_600_000,
    });
    const watchesBefore = (await stack.runtime.watches.list()).watches.length;
    const result = await runCli(['run', 'droplet', '4002', 'reboot'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /droplet 4002 is busy with another action \(422: Droplet already has a pending event\.\); pass --retry-pending/,
    );
    expect((await stack.runtime.watches.list()).watches).toHaveLength(watchesBefore);
  });

  it('with --retry-pending, retries with backoff until the droplet is free, then starts and watches', async () => {
    const busy = stack.simulator.createAction({
      kind: 'droplet',
      resourceId: 4003,
      type: 'resize',
      durationMs: 60_000,
    });
    const rejected = () => stack.simulator.stats().byStatus['422'] ?? 0;
    const rejectedBefore = rejected();
    const running = runCli(['run', 'droplet', '4003', 'power_off', '--retry-pending', '20s', '--wait'], env);
    // Free the droplet once the run has met the busy answer.
    await until(() => rejected() > rejectedBefore || undefined, 15_000);
    stack.simulator.finishAction(busy.id, 'completed');
    const result = await running;
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      type: 'power_off',
      status: 'completed',
      resource_id: 4003,
    });
  });

  it('with --retry-pending, gives up once the deadline passes', async () => {
    stack.simulator.createAction({ kind: 'droplet', resourceId: 4004, type: 'resize', durationMs: 30_000 });
    const started = Date.now();
    const result = await runCli(['run', 'droplet', '4004', 'reboot', '--retry-pending', '2s'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/droplet 4004 was still busy after retrying for \d+ s: .*pending event/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it.concurrent.each([
    [
      ['run', 'nfs', '1', 'resize'],
      /run.kind must be one of droplet, image, volume, reserved_ip, floating_ip, reserved_ipv6/,
    ],
    [['run', 'image', '1', 'transfer'], /transfer needs a region/],
    [['run', 'image', '1', 'transfer', '--region', 'Mars'], /region must be a region slug/],
    [['run', 'image', '1', 'convert', '--param', 'x=1'], /--param is for droplet actions/],
    [['run', 'droplet', '1', 'explode'], /run.type must be one of enable_backups, .* for a droplet/],
    [['run', 'droplet', '1', 'rename'], /rename needs name/],
    [['run', 'droplet', '1', 'snapshot', '--param', 'label=x'], /snapshot takes name \(got "label"\)/],
    [['run', 'droplet', '1', 'snapshot', '--param', 'name'], /--param must look like name=value/],
    [['run', 'droplet', '1', 'restore', '--param', 'image=abc'], /image must be a positive whole number/],
    [['run', 'droplet', '1', 'reboot', '--key', 'has space'], /--key must be 1 to 128 letters/],
    [['run', 'droplet', '1', 'reboot', '--retry-pending', 'soon'], /--retry-pending takes a duration/],
    [['run', 'droplet', '1', 'reboot', '--timeout', 'soon'], /--timeout must be a positive duration/],
    [
      ['run', 'droplet', '1', 'reboot', '--webhook', 'ftp://x'],
      /--webhook: webhook URL "ftp:\/\/x" must use http/,
    ],
    [['run', 'droplet', '1', 'reboot', '--on', 'completed'], /--on filters a --webhook/],
    [
      ['run', 'droplet', '1', 'reboot', '--token-profile', 'team-b'],
      /--token-profile: token profile must be/,
    ],
  ])('refuses %j in one line, sending nothing', async (args, message) => {
    const result = await runCli(args, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    // No POST reached the simulator for resource 1 (a POST would have made it exist).
    const client = stack.runtime.client();
    await expect(client.listDropletActions(1)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.listImageActions(1)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps the token out of the idempotency key and its record', async () => {
    stack.simulator.ensureResource('droplet', 4005);
    const spec = { kind: 'droplet', resourceId: 4005, body: { type: 'reboot' } } as const;
    const before = posts(POST_DROPLET);
    await stack.runtime.actionStarter().start(spec, { key: 'token-check' });
    expect(posts(POST_DROPLET) - before).toBe(1);
    const keys = await stack.runtime.redis.keys(`${stack.prefix}:run-key:*`);
    expect(keys).toContain(`${stack.prefix}:run-key:token-check`);
    for (const key of keys) {
      expect(key).not.toContain(SIM_TOKEN);
      expect(await stack.runtime.redis.get(key)).not.toContain(SIM_TOKEN);
    }
  });
});
