// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import type { ActionWatcher } from '../src/library/action-watcher.js';
import { RunKeys } from '../src/runs/run-keys.js';
import { fingerprintOf } from '../src/runs/run-request.js';
import { expectOneLineFailure, type RunOutput, runCli } from './support/cli.js';
import { type Stack, startWorkingStack } from './support/stack.js';

const POST_VOLUME = 'POST /v2/volumes/:volume_id/actions';
const POST_RESERVED_IP = 'POST /v2/reserved_ips/:reserved_ip/actions';
const POST_FLOATING_IP = 'POST /v2/floating_ips/:floating_ip/actions';
const POST_RESERVED_IPV6 = 'POST /v2/reserved_ipv6/:reserved_ipv6/actions';

/** A volume UUID per test, so no test sees another's actions. */
const volume = (n: number) => `7d3c2a10-5b4e-4c1f-9a8d-${String(n).padStart(12, '0')}`;

describe('run: volume and reserved/floating IP actions, with the guarantees of droplet and image runs', () => {
  let stack: Stack;
  let env: Record<string, string>;
  let watcher: ActionWatcher;
  /** POSTs that reached the simulator on a route (answered or dropped), from its request log. */
  const posts = (route: string) =>
    stack.simulator.requestLog().filter((entry) => entry.route === route).length;
  const listed = async (kind: 'volume' | 'reserved_ip', id: string) => {
    const actions: Action[] = [];
    for await (const action of stack.runtime.client().iterateResourceActions(kind, id)) actions.push(action);
    return actions;
  };

  beforeAll(async () => {
    ({ stack, watcher } = await startWorkingStack({
      name: 'run-volume-ip',
      simulator: { defaultDurationMs: 600 },
      env: { DIGITALOCEAN_TIMEOUT: '2s' },
    }));
    env = stack.processEnv();
  });

  afterAll(async () => {
    await watcher?.close();
    await stack?.close();
  });

  it('attaches a volume with --param droplet_id and region, and with --wait blocks until completed', async () => {
    const id = volume(1);
    stack.simulator.ensureResource('volume', id, 'nyc1');
    stack.simulator.ensureResource('droplet', 6001, 'nyc1');
    const before = posts(POST_VOLUME);
    const result = await runCli(
      [
        'run',
        'volume',
        id.toUpperCase(),
        'attach',
        '--param',
        'droplet_id=6001',
        '--param',
        'region=nyc1',
        '--wait',
      ],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const action = JSON.parse(result.stdout) as Action;
    expect(action).toMatchObject({ type: 'attach_volume', status: 'completed', resource_type: 'volume' });
    expect(posts(POST_VOLUME) - before).toBe(1);
    // The watch is the one `watch volume <uuid> <actionId>` makes: the UUID in lower case.
    const outcome = await stack.runtime.watches.outcomes.get(`volume-${id}-${action.id}`);
    expect(outcome?.outcome).toBe('completed');
    expect(stack.simulator.getVolume(id)).toMatchObject({ droplet_ids: [6001] });
  });

  it('detaches and resizes a volume, each started once and watched to completed', async () => {
    const id = volume(2);
    stack.simulator.ensureResource('volume', id, 'nyc1');
    stack.simulator.ensureResource('droplet', 6002, 'nyc1');
    const before = posts(POST_VOLUME);
    const detach = JSON.parse(
      (await runCli(['run', 'volume', id, 'detach', '--param', 'droplet_id=6002'], env)).stdout,
    ) as RunOutput;
    expect(detach).toMatchObject({
      started: true,
      recovered: false,
      action: { type: 'detach_volume' },
      watch: { id: `volume-${id}-${detach.action.id}`, state: 'waiting' },
    });
    expect((await stack.runtime.waitForOutcome(detach.watch.id, { timeoutMs: 10_000 }))?.outcome).toBe(
      'completed',
    );
    // The library takes the same request.
    const resize = await watcher.run({
      kind: 'volume',
      resourceId: id,
      type: 'resize',
      params: { size_gigabytes: 200, region: 'nyc1' },
    });
    expect(resize).toMatchObject({ started: true, action: { type: 'resize_volume' } });
    expect(resize.watch.id).toBe(`volume-${id}-${resize.action.id}`);
    expect((await watcher.waitFor(resize.watch, { timeout: 10_000 })).outcome).toBe('completed');
    expect(posts(POST_VOLUME) - before).toBe(2);
    expect(stack.simulator.getVolume(id)).toMatchObject({ size_gigabytes: 200 });
  });

  it('assigns and unassigns a reserved IP, and assigns a floating IP and a reserved IPv6', async () => {
    stack.simulator.ensureResource('reserved_ip', '203.0.113.7', 'nyc3');
    stack.simulator.ensureResource('droplet', 6003, 'nyc3');
    const before = posts(POST_RESERVED_IP);
    const assign = await runCli(
      ['run', 'reserved_ip', '203.0.113.7', 'assign', '--param', 'droplet_id=6003', '--wait'],
      env,
    );
    expect(assign.stderr).toBe('');
    expect(assign.code).toBe(0);
    const assigned = JSON.parse(assign.stdout) as Action;
    expect(assigned).toMatchObject({ type: 'assign_ip', status: 'completed', resource_type: 'reserved_ip' });
    expect(
      (await stack.runtime.watches.outcomes.get(`reserved_ip-203.0.113.7-${assigned.id}`))?.outcome,
    ).toBe('completed');
    const unassign = await runCli(['run', 'reserved_ip', '203.0.113.7', 'unassign', '--wait'], env);
    expect(unassign.code).toBe(0);
    expect(JSON.parse(unassign.stdout)).toMatchObject({ type: 'unassign_ip', status: 'completed' });
    expect(posts(POST_RESERVED_IP) - before).toBe(2);

    stack.simulator.ensureResource('floating_ip', '198.51.100.4', 'nyc3');
    const floating = await runCli(
      ['run', 'floating_ip', '198.51.100.4', 'assign', '--param', 'droplet_id=6003', '--wait'],
      env,
    );
    expect(floating.code).toBe(0);
    expect(JSON.parse(floating.stdout)).toMatchObject({ type: 'assign_ip', status: 'completed' });
    expect(posts(POST_FLOATING_IP)).toBe(1);

    stack.simulator.ensureResource('reserved_ipv6', '2001:db8::7', 'nyc3');
    const ipv6 = await watcher.run({
      kind: 'reserved_ipv6',
      resourceId: '2001:DB8:0:0::7',
      type: 'assign',
      params: { droplet_id: 6003 },
    });
    expect(ipv6.watch.id).toBe(`reserved_ipv6-2001_db8__7-${ipv6.action.id}`);
    expect((await watcher.waitFor(ipv6.watch, { timeout: 10_000 })).outcome).toBe('completed');
    expect(posts(POST_RESERVED_IPV6)).toBe(1);
  });

  it('with the same --key, a second run returns the first action and sends no second POST', async () => {
    const id = volume(3);
    stack.simulator.ensureResource('volume', id, 'nyc1');
    stack.simulator.ensureResource('reserved_ip', '203.0.113.8', 'nyc1');
    const volumeBefore = posts(POST_VOLUME);
    const ipBefore = posts(POST_RESERVED_IP);
    const attach = ['run', 'volume', id, 'attach', '--param', 'droplet_id=6004', '--key', 'attach-6004'];
    const assign = [
      'run',
      'reserved_ip',
      '203.0.113.8',
      'assign',
      '--param',
      'droplet_id=6004',
      '--key',
      'ip-6004',
    ];
    const [firstAttach, firstAssign] = await Promise.all([runCli(attach, env), runCli(assign, env)]);
    const [againAttach, againAssign] = await Promise.all([runCli(attach, env), runCli(assign, env)]);
    for (const [first, again] of [
      [firstAttach, againAttach],
      [firstAssign, againAssign],
    ] as const) {
      expect(first.code).toBe(0);
      expect(again.code).toBe(0);
      const one = JSON.parse(first.stdout) as RunOutput;
      const two = JSON.parse(again.stdout) as RunOutput;
      expect(one.started).toBe(true);
      expect(two).toMatchObject({ started: false, recovered: false, action: { id: one.action.id } });
      expect(two.watch.id).toBe(one.watch.id);
    }
    expect(posts(POST_VOLUME) - volumeBefore).toBe(1);
    expect(posts(POST_RESERVED_IP) - ipBefore).toBe(1);
    const record = await new RunKeys(stack.runtime.redis, { prefix: stack.prefix, retentionMs: 60_000 }).get(
      'attach-6004',
    );
    expect(record?.record).toMatchObject({ state: 'started', kind: 'volume', resourceId: id });

    // The same key for another request is refused, still without a POST.
    const reused = await runCli(
      ['run', 'volume', id, 'detach', '--param', 'droplet_id=6004', '--key', 'attach-6004'],
      env,
    );
    expectOneLineFailure(reused, /key attach-6004 was already used to start a different action/);
    expect(posts(POST_VOLUME) - volumeBefore).toBe(1);
  });

  it('a 2xx whose body is unreadable is found among the volume actions, not sent again', async () => {
    const id = volume(4);
    stack.simulator.ensureResource('volume', id, 'nyc1');
    // The POST starts its action; only the answer is cut off.
    stack.simulator.injectFault({ kind: 'truncated', method: 'POST', path: `^/v2/volumes/${id}/actions$` });
    const before = posts(POST_VOLUME);
    const result = await runCli(
      ['run', 'volume', id, 'resize', '--param', 'size_gigabytes=50', '--key', 'resize-4'],
      env,
    );
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as RunOutput;
    expect(output).toMatchObject({ started: false, recovered: true, action: { type: 'resize_volume' } });
    expect((await listed('volume', id)).map((action) => action.id)).toEqual([output.action.id]);
    expect(output.watch.id).toBe(`volume-${id}-${output.action.id}`);
    expect(posts(POST_VOLUME) - before).toBe(1);
  });

  it('a 2xx that names no action, with nothing to find, stops with exit 6 and is never sent again', async () => {
    stack.simulator.ensureResource('reserved_ip', '203.0.113.9', 'nyc1');
    // In place of the request: DigitalOcean "answered" but started nothing a list would show.
    stack.simulator.injectFault({
      kind: 'malformed-json',
      method: 'POST',
      path: '^/v2/reserved_ips/203\\.0\\.113\\.9/actions$',
    });
    const before = posts(POST_RESERVED_IP);
    const args = [
      'run',
      'reserved_ip',
      '203.0.113.9',
      'assign',
      '--param',
      'droplet_id=6005',
      '--key',
      'ip-9',
    ];
    const result = await runCli(args, env);
    expect(result.code).toBe(6);
    expect(result.stdout).toBe('');
    // The log lines (warnings of the search) aside, one line says what happened.
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('actionwatch: '))).toHaveLength(1);
    expect(result.stderr).toMatch(
      /actionwatch: the assign of reserved_ip 203\.0\.113\.9 was probably started .*`actionwatch actions reserved_ip 203\.0\.113\.9`/,
    );
    expect(posts(POST_RESERVED_IP) - before).toBe(1);
    // The key only looks from now on.
    const again = await runCli(args, env);
    expect(again.code).toBe(6);
    expect(posts(POST_RESERVED_IP) - before).toBe(1);
    expect(await listed('reserved_ip', '203.0.113.9')).toEqual([]);
    // Nothing was watched.
    const watches = (await stack.runtime.watches.list({ kind: 'reserved_ip', limit: 1000 })).watches;
    expect(watches.filter((watch) => watch.resourceId === '203.0.113.9')).toEqual([]);
  });

  it('a lost answer of a reserved IPv6 start cannot be looked for: it stops as maybe started, sent once', async () => {
    stack.simulator.ensureResource('reserved_ipv6', '2001:db8::9', 'nyc1');
    stack.simulator.injectFault({ kind: 'drop', method: 'POST', path: '^/v2/reserved_ipv6/' });
    const before = posts(POST_RESERVED_IPV6);
    const error = await stack.runtime
      .actionStarter()
      .start({ kind: 'reserved_ipv6', resourceId: '2001:db8::9', body: { type: 'unassign' } })
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(error).toBeInstanceOf(ActionProbablyStartedError);
    expect((error as Error).message).toMatch(/DigitalOcean lists no actions of a single reserved_ipv6/);
    expect(posts(POST_RESERVED_IPV6) - before).toBe(1);
  });

  it('a claim left by a starter that died after its POST landed adopts the attach_volume it started, not a detach', async () => {
    const id = volume(7);
    stack.simulator.ensureResource('volume', id, 'nyc1');
    const spec = { kind: 'volume', resourceId: id, body: { type: 'attach', droplet_id: 6008 } } as const;
    const keys = new RunKeys(stack.runtime.redis, { prefix: stack.prefix, retentionMs: 60_000 });
    const now = Date.now();
    await keys.compareAndSet('crashed-attach-7', undefined, {
      state: 'starting',
      owner: 'a-process-that-died',
      fingerprint: fingerprintOf(spec),
      expiresAt: now - 1,
      since: now - 2_000,
      postedAt: now - 1_500,
    });
    // What the dead process sent, and another type on the same volume that must not be taken for it.
    stack.simulator.createAction({ kind: 'volume', resourceId: id, type: 'detach_volume' });
    const landed = stack.simulator.createAction({ kind: 'volume', resourceId: id, type: 'attach_volume' });
    const before = posts(POST_VOLUME);
    const result = await stack.runtime.actionStarter().start(spec, { key: 'crashed-attach-7' });
    expect(result).toMatchObject({ started: false, recovered: true, action: { id: landed.id } });
    expect(result.ref).toEqual({ kind: 'volume', resourceId: id, actionId: landed.id });
    expect(posts(POST_VOLUME) - before).toBe(0);
  });

  it('with --retry-pending, a busy volume (422 pending event) is tried again until it is free', async () => {
    const id = volume(5);
    stack.simulator.ensureResource('volume', id, 'nyc1');
    stack.simulator.injectFault({
      kind: 'status',
      status: 422,
      body: { id: 'unprocessable_entity', message: 'Volume already has a pending event.' },
      method: 'POST',
      path: `^/v2/volumes/${id}/actions$`,
      times: 2,
    });
    const busy = await runCli(['run', 'volume', id, 'attach', '--param', 'droplet_id=6006'], env);
    expectOneLineFailure(busy, new RegExp(`volume ${id} is busy with another action .*pass --retry-pending`));
    const result = await runCli(
      ['run', 'volume', id, 'attach', '--param', 'droplet_id=6006', '--retry-pending', '20s', '--wait'],
      env,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ type: 'attach_volume', status: 'completed' });
  });

  it.concurrent.each([
    [['run', 'volume', volume(9), 'explode'], /run.type must be one of attach, detach, resize for a volume/],
    [['run', 'volume', volume(9), 'attach'], /run: attach needs droplet_id \(a positive whole number\)/],
    [
      ['run', 'volume', '7701', 'resize', '--param', 'size_gigabytes=5'],
      /run.resourceId of a volume must be its UUID/,
    ],
    [
      ['run', 'volume', volume(9), 'resize', '--param', 'size_gigabytes=99999'],
      /size_gigabytes must be a whole number from 1 to 16384/,
    ],
    [
      ['run', 'volume', volume(9), 'attach', '--param', 'droplet_id=web'],
      /droplet_id must be a positive whole number/,
    ],
    [
      ['run', 'volume', volume(9), 'attach', '--param', 'droplet_id=1', '--param', 'region=Mars'],
      /region must be a region slug/,
    ],
    [
      ['run', 'volume', volume(9), 'attach', '--param', 'droplet_id=1', '--region', 'nyc1'],
      /--region is for image transfers; volume actions take --param/,
    ],
    [
      ['run', 'volume', volume(9), 'attach', '--param', 'droplet_id=1', '--param', 'size=9'],
      /attach takes droplet_id, region \(got "size"\)/,
    ],
    [
      ['run', 'reserved_ip', '203.0.113.300', 'unassign'],
      /run.resourceId of a reserved_ip must be an IPv4 address/,
    ],
    [['run', 'reserved_ip', '192.0.2.99', 'assign'], /run: assign needs droplet_id/],
    [
      ['run', 'reserved_ip', '192.0.2.99', 'move'],
      /run.type must be one of assign, unassign for a reserved_ip/,
    ],
    [
      ['run', 'reserved_ip', '192.0.2.99', 'unassign', '--param', 'droplet_id=1'],
      /unassign takes no parameters \(got "droplet_id"\)/,
    ],
    [['run', 'reserved_ipv6', '192.0.2.99', 'unassign'], /must be an IPv6 address/],
  ])('refuses %j in one line, sending nothing', async (args, message) => {
    const result = await runCli(args, env);
    expectOneLineFailure(result, message);
    // None of these resources exists: a POST that went out would have been answered 404.
    const missed = stack.simulator
      .requestLog()
      .filter((entry) => entry.route.startsWith('POST') && entry.status === 404);
    expect(missed).toEqual([]);
  });

  it('a chain step attaches a volume and assigns a reserved IP to the droplet an earlier step acted on', async () => {
    const id = volume(6);
    stack.simulator.ensureResource('droplet', 6007, 'ams3');
    stack.simulator.ensureResource('volume', id, 'ams3');
    stack.simulator.ensureResource('reserved_ip', '203.0.113.10', 'ams3');
    const chain = await watcher.chain(
      {
        name: 'wire-up',
        steps: [
          { id: 'boot', run: { droplet: 6007, type: 'power_on' } },
          {
            id: 'wire',
            run: [
              {
                volume: id,
                type: 'attach',
                params: { droplet_id: '${steps.boot.resourceId}', region: 'ams3' },
              },
              {
                reserved_ip: '203.0.113.10',
                type: 'assign',
                params: { droplet_id: '${steps.boot.resourceId}' },
              },
            ],
          },
        ],
      },
      { key: 'wire-up' },
    );
    const outcome = await watcher.waitForChain(chain, { timeout: 20_000 });
    expect(outcome.outcome).toBe('completed');
    const wire = outcome.steps[1];
    expect(wire?.runs).toMatchObject([
      { kind: 'volume', type: 'attach', resourceId: id, outcome: 'completed' },
      { kind: 'reserved_ip', type: 'assign', resourceId: '203.0.113.10', outcome: 'completed' },
    ]);
    expect(wire?.runs[0]?.watchId).toBe(`volume-${id}-${wire?.runs[0]?.actionId}`);
    expect(wire?.runs[1]?.watchId).toBe(`reserved_ip-203.0.113.10-${wire?.runs[1]?.actionId}`);
    expect(stack.simulator.getVolume(id)).toMatchObject({ droplet_ids: [6007] });
    expect((await listed('reserved_ip', '203.0.113.10')).map((action) => action.type)).toEqual(['assign_ip']);
  });

  it.each([
    [
      { volume: 'vol-1', type: 'attach', params: { droplet_id: 1 } },
      /steps\[0\].run.volume of a volume must be its UUID/,
    ],
    [{ reserved_ip: '203.0.113.7', type: 'assign' }, /steps\[0\].run: assign needs droplet_id/],
    [
      { volume: volume(9), type: 'grow', params: { droplet_id: 1 } },
      /steps\[0\].run.type must be one of attach, detach, resize for a volume/,
    ],
    [
      { reserved_ip: '203.0.113.7', type: 'assign', params: { droplet_id: '${steps.nowhere.resourceId}' } },
      /steps\[0\].run.params.droplet_id: steps.nowhere is not an earlier step/,
    ],
    [
      { volume: volume(9), reserved_ip: '203.0.113.7', type: 'attach' },
      /steps\[0\].run must name exactly one of droplet, image, volume, reserved_ip, floating_ip, reserved_ipv6/,
    ],
  ])('a chain plan with %j is refused naming the field', async (run, message) => {
    await expect(watcher.chain({ steps: [{ run } as never] })).rejects.toThrow(message);
  });
});
