import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWatchFile } from '../src/cli/watch-input.js';
import { answerMismatch } from '../src/digitalocean/action-answer.js';
import type { Action, WatchKind } from '../src/digitalocean/models.js';
import { apiResourceId, ipv4Address, ipv4Number } from '../src/digitalocean/resource-ids.js';
import { type PlannerTarget, plan } from '../src/fleet/planner.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { slackText } from '../src/notifications/webhooks/webhook-message.js';
import type { ActionKind } from '../src/simulator/action-kinds.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { parseActionRef, parseWatchId, watchIdOf } from '../src/watches/watch-ref.js';
import { startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { runCli } from './support/cli.js';
import { type Stack, startStack, until } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

const VOLUME = '7d3c2a10-5b4e-4c1f-9a8d-2e6f0b1c3d4e';
const SHARE = '0b7c3e1a-5d2f-4c8e-9a61-3f0d2b8e7c45';

function action(fields: Partial<Action> & { id: number }): Action {
  return { status: 'in-progress', ...fields };
}

describe('watch ids of every kind', () => {
  it.each([
    [['droplet', 3164444, 36804636], 'droplet-3164444-36804636'],
    [['image', '7555620', '36805527'], 'image-7555620-36805527'],
    [['volume', VOLUME.toUpperCase(), 5], `volume-${VOLUME}-5`],
    [['nfs', SHARE, 6], `nfs-${SHARE}-6`],
    [['reserved_ip', '45.55.96.47', 7], 'reserved_ip-45.55.96.47-7'],
    [['floating_ip', ' 45.55.96.47 ', 8], 'floating_ip-45.55.96.47-8'],
    [['reserved_ipv6', '2001:DB8:0:0::1', 9], 'reserved_ipv6-2001_db8__1-9'],
    [['action', undefined, 10], 'action-10'],
  ])('%j is %s, and reads back as the same action', (input, id) => {
    const [kind, resourceId, actionId] = input as [string, unknown, unknown];
    const ref = parseActionRef(kind, resourceId, actionId);
    expect(watchIdOf(ref)).toBe(id);
    expect(parseWatchId(id)).toEqual(ref);
    expect(parseWatchId(`team_b.${id}`)).toEqual({ ...ref, tokenProfile: 'team_b' });
    expect(watchIdOf({ ...ref, tokenProfile: 'team_b' })).toBe(`team_b.${id}`);
    // BullMQ forbids ':' in a job id.
    expect(id).not.toContain(':');
  });

  it.each([
    ['volume', '7701', /resourceId of a volume must be its UUID/],
    ['nfs', '45.55.96.47', /resourceId of a nfs must be its UUID/],
    ['reserved_ip', '2001:db8::1', /resourceId of a reserved_ip must be an IPv4 address/],
    ['floating_ip', '256.1.1.1', /must be an IPv4 address/],
    ['reserved_ipv6', '45.55.96.47', /resourceId of a reserved_ipv6 must be an IPv6 address/],
    ['droplet', VOLUME, /resourceId must be a positive whole number/],
    ['action', 12, /kind action takes no resourceId/],
    ['load_balancer', 12, /kind must be one of droplet, image, volume, reserved_ip/],
  ])('refuses %s %j', (kind, resourceId, message) => {
    expect(() => parseActionRef(kind, resourceId, 1)).toThrow(message);
  });

  it.each([
    'volume-7701-5',
    'reserved_ip-45.55.96-5',
    'reserved_ip-999.1.1.1-5',
    'reserved_ipv6-2001:db8::1-5',
    'action-x-5',
    'droplet-0-5',
    'spaceship-1-2',
  ])('%s is no watch id', (id) => {
    expect(parseWatchId(id)).toBeUndefined();
  });
});

describe('answers about each kind', () => {
  it('maps an IPv4 address to the 32-bit resource_id DigitalOcean carries, and back', () => {
    expect(ipv4Number('45.55.96.47')).toBe(758603823);
    expect(ipv4Address(758603823)).toBe('45.55.96.47');
    expect(ipv4Address(2 ** 32)).toBeUndefined();
    expect(apiResourceId('reserved_ip', '45.55.96.47')).toBe(758603823);
    expect(apiResourceId('volume', VOLUME)).toBeUndefined();
    expect(apiResourceId('droplet', 5)).toBe(5);
  });

  it('takes an answer of the right resource type, whatever null resource_id it carries', () => {
    const asked = { kind: 'volume', resourceId: VOLUME, actionId: 3 } as const;
    expect(
      answerMismatch(action({ id: 3, resource_type: 'volume', resource_id: null }), asked),
    ).toBeUndefined();
    expect(answerMismatch(action({ id: 3, resource_type: 'volume' }), asked)).toBeUndefined();
    // The API reference's own answer to a volume detach names the type `backend`.
    expect(
      answerMismatch(action({ id: 3, resource_type: 'backend', resource_id: null }), asked),
    ).toBeUndefined();
    const ip = { kind: 'floating_ip', resourceId: '45.55.96.47', actionId: 4 } as const;
    // Reserved IPs are floating IPs renamed: the same address under either name.
    expect(
      answerMismatch(action({ id: 4, resource_type: 'reserved_ip', resource_id: 758603823 }), ip),
    ).toBeUndefined();
  });

  it('reads a resource_id that is a UUID, as the NFS action shape has it, without refusing the answer', () => {
    const share = { kind: 'nfs', resourceId: SHARE, actionId: 5 } as const;
    expect(
      answerMismatch(action({ id: 5, resource_type: 'nfs', resource_id: SHARE }), share),
    ).toBeUndefined();
    // Still never a droplet's: its id is a whole number, not text.
    const droplet = { kind: 'droplet', resourceId: 5, actionId: 5 } as const;
    expect(
      answerMismatch(action({ id: 5, resource_type: 'droplet', resource_id: '5' }), droplet)?.fault,
    ).toBe('other_resource');
  });

  it.each([
    [
      { kind: 'volume', resourceId: VOLUME },
      { resource_type: 'droplet', resource_id: 5 },
    ],
    [
      { kind: 'nfs', resourceId: SHARE },
      { resource_type: 'volume', resource_id: null },
    ],
    [
      { kind: 'reserved_ipv6', resourceId: '2001:db8::1' },
      { resource_type: 'reserved_ip', resource_id: 1 },
    ],
    [
      { kind: 'reserved_ip', resourceId: '45.55.96.47' },
      { resource_type: 'reserved_ip', resource_id: 758603824 },
    ],
    [
      { kind: 'droplet', resourceId: 5 },
      { resource_type: 'volume', resource_id: null },
    ],
    [
      { kind: 'droplet', resourceId: 5 },
      { resource_type: 'backend', resource_id: null },
    ],
  ] as const)('refuses an answer for %j about %j', (asked, answered) => {
    const mismatch = answerMismatch(action({ id: 9, ...answered }), { ...asked, actionId: 9 });
    expect(mismatch?.fault).toBe('other_resource');
  });
});

describe('batched planning of the new kinds', () => {
  const due = (watchId: string, kind: WatchKind, resourceId: string | null): PlannerTarget => ({
    watchId,
    actionId: Number(watchId),
    kind,
    resourceId,
    value: 0.1,
    page: undefined,
    directOnly: false,
  });

  it('shares a resource list only where DigitalOcean lists a resource’s actions', () => {
    const result = plan({
      targets: [
        due('1', 'volume', VOLUME),
        due('2', 'volume', VOLUME),
        due('3', 'reserved_ip', '45.55.96.47'),
        due('4', 'reserved_ip', '45.55.96.47'),
        due('5', 'nfs', SHARE),
        due('6', 'nfs', SHARE),
        due('7', 'reserved_ipv6', '2001:db8::1'),
        due('8', 'reserved_ipv6', '2001:db8::1'),
        due('9', 'action', null),
        due('10', 'action', null),
      ],
      allowance: 20,
      resourceLists: true,
    });
    expect(result.resources.map((group) => [group.kind, group.resourceId])).toEqual([
      ['volume', VOLUME],
      ['reserved_ip', '45.55.96.47'],
    ]);
    expect(result.direct.map((t) => t.watchId).sort()).toEqual(['10', '5', '6', '7', '8', '9']);
  });
});

interface Case {
  kind: ActionKind;
  resourceId: string;
  /** The scoped single-action GET a direct poll uses, or /v2/actions/{id}. */
  route: string;
}

const CASES: Case[] = [
  { kind: 'volume', resourceId: VOLUME, route: 'GET /v2/volumes/:volume_id/actions/:action_id' },
  {
    kind: 'reserved_ip',
    resourceId: '45.55.96.47',
    route: 'GET /v2/reserved_ips/:reserved_ip/actions/:action_id',
  },
  {
    kind: 'floating_ip',
    resourceId: '45.55.96.48',
    route: 'GET /v2/floating_ips/:floating_ip/actions/:action_id',
  },
  { kind: 'reserved_ipv6', resourceId: '2001:db8::17', route: 'GET /v2/actions/:action_id' },
  { kind: 'nfs', resourceId: SHARE, route: 'GET /v2/actions/:action_id' },
];

for (const mode of ['direct', 'batched'] as const) {
  describe(`every kind watched to its outcome (OBSERVE_MODE=${mode})`, () => {
    let stack: Stack;

    beforeAll(async () => {
      // Several tests share this stack, and direct polls every 200 ms add up: room past the real
      // 250 a minute, so no test waits on another's share of the budget.
      stack = await startStack({
        name: `kinds-${mode}`,
        env: { OBSERVE_MODE: mode, RATE_LIMIT_PER_MINUTE: '5000', RATE_LIMIT_PER_HOUR: '100000' },
      });
      await stack.runtime.startWorker({ concurrency: 8 });
    });

    afterAll(async () => {
      await stack?.close();
    });

    it('ends each watch as its action ends, with the action DigitalOcean returned', async () => {
      const started = CASES.map((item, index) => {
        const result = index % 2 === 0 ? 'completed' : 'errored';
        stack.simulator.ensureResource(item.kind, item.resourceId);
        const created = stack.simulator.createAction({
          kind: item.kind,
          resourceId: item.resourceId,
          durationMs: 300 + index * 100,
          result,
        });
        const ref = parseActionRef(item.kind, item.resourceId, created.id);
        return { item, ref, result };
      });
      const results = await stack.runtime.watches.watchMany(started.map((s) => s.ref));
      const records = (await Promise.all(
        results.map(({ watch }) => stack.runtime.waitForOutcome(watch.id, { timeoutMs: 20_000 })),
      )) as OutcomeRecord[];
      records.forEach((record, index) => {
        const { item, ref, result } = started[index] as (typeof started)[number];
        expect(record.outcome).toBe(result);
        expect(record.watch).toMatchObject({
          id: watchIdOf(ref),
          kind: item.kind,
          resourceId: ref.resourceId,
        });
        expect(record.action).toMatchObject({ id: ref.actionId, status: result, resource_type: item.kind });
      });
      if (mode === 'direct') {
        const routes = stack.simulator.stats().byRoute;
        for (const item of CASES) expect(routes[item.route]).toBeGreaterThan(0);
      } else {
        expect(stack.simulator.stats().byRoute['GET /v2/actions']).toBeGreaterThan(0);
      }
    });

    it('watches any action by its id alone, its kind learned from resource_type', async () => {
      const watcher = ActionWatcher.fromRuntime(stack.runtime);
      const droplet = stack.simulator.createAction({ kind: 'droplet', resourceId: 3164444, durationMs: 300 });
      stack.simulator.ensureResource('reserved_ip', '45.55.96.49');
      const ip = stack.simulator.createAction({
        kind: 'reserved_ip',
        resourceId: '45.55.96.49',
        durationMs: 300,
      });
      stack.simulator.ensureResource('volume', VOLUME);
      const volume = stack.simulator.createAction({
        kind: 'volume',
        resourceId: VOLUME,
        durationMs: 300,
        result: 'errored',
      });
      const byDroplet = await watcher.watchAction(droplet.id);
      const byIp = await watcher.watchAction(ip.id);
      const byVolume = await watcher.watchAction(volume.id);
      expect(byDroplet).toMatchObject({
        id: `droplet-3164444-${droplet.id}`,
        kind: 'droplet',
        resourceId: 3164444,
      });
      expect(byIp).toMatchObject({ id: `reserved_ip-45.55.96.49-${ip.id}`, resourceId: '45.55.96.49' });
      expect(byVolume).toMatchObject({ id: `action-${volume.id}`, kind: 'action', resourceId: null });
      const [dropletRecord, ipRecord, volumeRecord] = await Promise.all(
        [byDroplet, byIp, byVolume].map((watch) => watcher.waitFor(watch.id, { timeout: 20_000 })),
      );
      expect(dropletRecord?.outcome).toBe('completed');
      expect(ipRecord?.outcome).toBe('completed');
      expect(volumeRecord).toMatchObject({ outcome: 'errored', action: { resource_type: 'volume' } });
    });

    it('lists and discovers the actions of a volume and of an address', async () => {
      const watcher = ActionWatcher.fromRuntime(stack.runtime);
      const volume = `${mode === 'direct' ? 'aaaaaaaa' : 'bbbbbbbb'}-1111-4222-8333-444444444444`;
      const address = mode === 'direct' ? '198.51.100.7' : '198.51.100.8';
      stack.simulator.ensureResource('volume', volume);
      stack.simulator.ensureResource('floating_ip', address);
      const done = stack.simulator.createAction({ kind: 'volume', resourceId: volume, durationMs: 0 });
      const running = stack.simulator.createAction({
        kind: 'volume',
        resourceId: volume,
        durationMs: 60_000,
      });
      const ipRunning = stack.simulator.createAction({
        kind: 'floating_ip',
        resourceId: address,
        durationMs: 60_000,
      });
      const listed: number[] = [];
      for await (const action of watcher.actions('volume', volume.toUpperCase())) listed.push(action.id);
      expect(listed.sort()).toEqual([done.id, running.id].sort());
      const watched = await watcher.watchInProgress('volume', volume);
      expect(watched.map((watch) => watch.id)).toEqual([`volume-${volume}-${running.id}`]);
      const ipWatched = await watcher.watchInProgress('floating_ip', address);
      expect(ipWatched.map((watch) => watch.id)).toEqual([`floating_ip-${address}-${ipRunning.id}`]);
      await expect(watcher.watchInProgress('nfs', SHARE)).rejects.toThrow(/lists no actions of a single nfs/);
      for (const watch of [...watched, ...ipWatched]) await stack.runtime.watches.cancel(watch.id);
    });

    it('never ends a watch on an answer about another resource type', async () => {
      // A droplet's action, asked about as a reserved IPv6 address's: /v2/actions/{id} answers with
      // the droplet's action, already completed, and the watch must not take it.
      const other = stack.simulator.createAction({ kind: 'droplet', resourceId: 77, durationMs: 0 });
      const { watch } = await stack.runtime.watches.watch(
        parseActionRef('reserved_ipv6', '2001:db8::99', other.id),
      );
      const polled = await until(async () => {
        const current = await stack.runtime.watches.get(watch.id);
        return current !== undefined && (current.lastError ?? '').includes('instead of reserved_ipv6')
          ? current
          : undefined;
      }, 20_000);
      expect(polled).toMatchObject({ state: 'waiting', outcome: null });
      await stack.runtime.watches.cancel(watch.id);
    });
  });
}

describe('webhooks and events of the new kinds', () => {
  let hooks: WebhookStack | undefined;

  afterAll(async () => {
    await hooks?.close();
  });

  it('posts and streams each outcome with the watch as its JSON names it', async () => {
    hooks = await startWebhookStack({ name: 'kinds-hooks' });
    const { receiver, stack } = hooks;
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const streamed: OutcomeRecord[] = [];
    watcher.on('outcome', (record: OutcomeRecord) => streamed.push(record));
    await watcher.ready();
    stack.simulator.ensureResource('reserved_ipv6', '2001:db8::42');
    const v6 = stack.simulator.createAction({
      kind: 'reserved_ipv6',
      resourceId: '2001:db8::42',
      durationMs: 300,
    });
    stack.simulator.ensureResource('nfs', SHARE);
    const share = stack.simulator.createAction({
      kind: 'nfs',
      resourceId: SHARE,
      durationMs: 300,
      result: 'errored',
    });
    const refs = [
      parseActionRef('reserved_ipv6', '2001:db8::42', v6.id),
      parseActionRef('action', undefined, share.id),
    ];
    await stack.runtime.watches.watchMany(refs);
    await stack.runtime.startWorker({ concurrency: 4 });
    const bodies = await until(() => {
      const hooked = receiver.successes().map((request) => JSON.parse(request.body));
      return hooked.length >= 2 ? hooked : undefined;
    }, 20_000);
    const byId = new Map(bodies.map((body) => [body.data.watch.id, body]));
    expect(byId.get(`reserved_ipv6-2001_db8__42-${v6.id}`)).toMatchObject({
      type: 'action.completed',
      data: {
        watch: { kind: 'reserved_ipv6', resourceId: '2001:db8::42' },
        action: { resource_type: 'reserved_ipv6' },
      },
    });
    expect(byId.get(`action-${share.id}`)).toMatchObject({
      type: 'action.errored',
      data: { watch: { kind: 'action', resourceId: null }, action: { resource_type: 'nfs' } },
    });
    const events = await until(() => (streamed.length >= 2 ? streamed : undefined), 20_000);
    expect(events.map((record) => record.watch.id).sort()).toEqual(refs.map((ref) => watchIdOf(ref)).sort());
    expect(slackText(events.find((record) => record.watch.kind === 'action') as OutcomeRecord)).toBe(
      `:x: actionwatch: action ${share.id} (RESIZE_SHARE) errored`,
    );
  });

  it('reads every kind from a --from-file line', async () => {
    const temp = new TempDir('aw-kinds');
    const lines = [
      { kind: 'volume', resourceId: VOLUME, actionId: 1 },
      { kind: 'reserved_ip', resourceId: '45.55.96.47', actionId: 2 },
      { kind: 'action', actionId: 3 },
    ];
    const requests = await readWatchFile(
      temp.file(lines.map((line) => JSON.stringify(line)).join('\n')),
      (url) => url,
      undefined,
    );
    expect(requests.map((request) => watchIdOf(request))).toEqual([
      `volume-${VOLUME}-1`,
      'reserved_ip-45.55.96.47-2',
      'action-3',
    ]);
    temp.remove();
  });
});

describe('the CLI with every kind', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ name: 'kinds-cli' });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('watch action <id> learns the kind; watch takes UUIDs and addresses as written', async () => {
    const env = stack.processEnv();
    stack.simulator.ensureResource('floating_ip', '45.55.96.50');
    const ip = stack.simulator.createAction({
      kind: 'floating_ip',
      resourceId: '45.55.96.50',
      durationMs: 60_000,
    });
    const byId = await runCli(['watch', 'action', String(ip.id)], env);
    expect(byId.code).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({
      id: `floating_ip-45.55.96.50-${ip.id}`,
      kind: 'floating_ip',
      resourceId: '45.55.96.50',
      state: 'waiting',
    });
    stack.simulator.ensureResource('reserved_ipv6', '2001:db8::5');
    const v6 = stack.simulator.createAction({
      kind: 'reserved_ipv6',
      resourceId: '2001:db8::5',
      durationMs: 60_000,
    });
    const byAddress = await runCli(['watch', 'reserved_ipv6', '2001:DB8::5', String(v6.id)], env);
    expect(byAddress.code).toBe(0);
    expect(JSON.parse(byAddress.stdout)).toMatchObject({
      id: `reserved_ipv6-2001_db8__5-${v6.id}`,
      resourceId: '2001:db8::5',
    });
    const shown = await runCli(['show', `reserved_ipv6-2001_db8__5-${v6.id}`], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ kind: 'reserved_ipv6', resourceId: '2001:db8::5' });
  });

  it('wait action <id> blocks until that action ends, whatever its kind', async () => {
    stack.simulator.ensureResource('volume', VOLUME);
    const volume = stack.simulator.createAction({ kind: 'volume', resourceId: VOLUME, durationMs: 500 });
    const result = await runCli(['wait', 'action', String(volume.id), '--with-worker'], stack.processEnv());
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      id: volume.id,
      status: 'completed',
      resource_type: 'volume',
    });
  });

  it('refuses a run of a kind that cannot be started, and a volume attach without its droplet', async () => {
    const share = await runCli(['run', 'nfs', SHARE, 'resize'], stack.processEnv());
    expect(share.code).toBe(1);
    expect(share.stderr).toMatch(/run\.kind must be one of droplet, image, volume/);
    const attach = await runCli(['run', 'volume', VOLUME, 'attach'], stack.processEnv());
    expect(attach.code).toBe(1);
    expect(attach.stderr.trim()).toBe('actionwatch: run: attach needs droplet_id (a positive whole number)');
  });
});
