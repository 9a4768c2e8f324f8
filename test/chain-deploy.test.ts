// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Chain } from '../src/chains/chain.js';
import { initialStepStates } from '../src/chains/chain.js';
import { dryRunChain } from '../src/chains/chain-dry-run.js';
import { type ChainPlanInput, parseChainPlan } from '../src/chains/chain-plan.js';
import { chainRecordSchema } from '../src/chains/chain-record-schemas.js';
import type { Action } from '../src/digitalocean/models.js';
import { NotFoundError } from '../src/errors/digitalocean-api-error.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { exited, runCli, startCli } from './support/cli.js';
import { SimulatorProxy } from './support/simulator-proxy.js';
import { type Stack, startStack, startWorkingStack, until } from './support/stack.js';

const POST_DROPLETS = 'POST /v2/droplets';
const DELETE_DROPLET = 'DELETE /v2/droplets/:droplet_id';
const SCHEDULE = {
  firstDelayMs: 1_000,
  minIntervalMs: 1_000,
  maxIntervalMs: 60_000,
  ageFactor: 0.1,
  jitter: 0,
};

const parse = (plan: unknown) => parseChainPlan(plan, (url) => url);

/** Snapshot a droplet, copy the image to two regions, one droplet per region from it, then wire them up. */
const deployPlan = (droplet: number, volumeId: string, ip: string): ChainPlanInput => ({
  name: `deploy-${droplet}`,
  steps: [
    { id: 'snapshot', run: { droplet, type: 'snapshot', params: { name: `web-${droplet}` } } },
    {
      id: 'transfer',
      run: [
        { image: '${steps.snapshot.imageId}', type: 'transfer', region: 'ams3' },
        { image: '${steps.snapshot.imageId}', type: 'transfer', region: 'sfo3' },
      ],
    },
    {
      id: 'create',
      run: [
        {
          create: {
            name: `web-${droplet}-ams3`,
            region: 'ams3',
            size: 's-2vcpu-4gb',
            image: '${steps.snapshot.imageId}',
            tags: ['web'],
          },
          until: 'active',
        },
        {
          create: {
            name: `web-${droplet}-sfo3`,
            region: 'sfo3',
            size: 's-2vcpu-4gb',
            image: '${steps.snapshot.imageId}',
            user_data: '#cloud-config\n',
          },
          until: 'active',
        },
      ],
    },
    {
      id: 'wire',
      run: [
        { reserved_ip: ip, type: 'assign', params: { droplet_id: '${steps.create.0.dropletId}' } },
        {
          volume: volumeId,
          type: 'attach',
          params: { droplet_id: '${steps.create.0.dropletId}', region: 'ams3' },
        },
      ],
    },
    // The old droplet, once the new ones serve: DELETE, then watched until GET answers 404.
    { id: 'retire', run: { droplet, type: 'delete' } },
  ],
});

describe('chain plans: create runs and references to what they made', () => {
  const create = { name: 'web-1', region: 'ams3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' };

  it.each([
    [
      { steps: [{ run: { create: { ...create, name: undefined } } }] },
      /^steps\[0\]\.run\.create\.name is required/,
    ],
    [
      { steps: [{ run: { create: { ...create, name: ['a', 'b'] } } }] },
      /^steps\[0\]\.run\.create\.name must be one droplet name/,
    ],
    [
      { steps: [{ run: { create: { ...create, size: 'XL' } } }] },
      /^steps\[0\]\.run\.create\.size must be a size slug/,
    ],
    [{ steps: [{ run: { create: { ...create, region: 'Ams 3' } } }] }, /^steps\[0\]\.run\.create\.region /],
    [
      { steps: [{ run: { create: { ...create, ssh_keys: ['nope'] } } }] },
      /^steps\[0\]\.run\.create\.ssh_keys: "nope" is neither/,
    ],
    [
      { steps: [{ run: { create: { ...create, tags: ['a b'] } } }] },
      /^steps\[0\]\.run\.create\.tags: "a b" is not a tag/,
    ],
    [
      { steps: [{ run: { create: { ...create, names: ['x'] } } }] },
      /^steps\[0\]\.run\.create: unknown field "names"/,
    ],
    [{ steps: [{ run: { create, type: 'create' } }] }, /^steps\[0\]\.run: unknown field "type"/],
    [{ steps: [{ run: { create, until: 'off' } }] }, /^steps\[0\]\.run\.until can only be active/],
    [{ steps: [{ run: { create: 'web-1' } }] }, /^steps\[0\]\.run\.create must be an object/],
    [
      { steps: [{ run: { create: { ...create, image: 'img-${steps.x.imageId}' } } }] },
      /^steps\[0\]\.run\.create\.image must be an image id, a slug or exactly one reference/,
    ],
    [
      {
        steps: [
          { id: 'boot', run: { droplet: 1, type: 'power_on' } },
          { run: { create: { ...create, image: '${steps.boot.imageId}' } } },
        ],
      },
      /^steps\[1\]\.run\.create\.image: only a droplet snapshot makes an image/,
    ],
    [
      {
        steps: [
          { id: 'web', run: { create } },
          {
            run: { reserved_ip: '203.0.113.7', type: 'assign', params: { droplet_id: '${steps.web.ipv4}' } },
          },
        ],
      },
      /^steps\[1\]\.run\.params\.droplet_id: ipv4 is known only for a create run with until: active \(step web has no until: active\)/,
    ],
    [
      {
        steps: [
          { id: 'boot', run: { droplet: 1, type: 'power_on' } },
          { run: { droplet: '${steps.boot.dropletId}', type: 'reboot' } },
        ],
      },
      /^steps\[1\]\.run\.droplet: only a create run makes a droplet \(step boot does not\)/,
    ],
    [
      {
        steps: [
          {
            id: 'web',
            run: [{ create, until: 'active' }, { create: { ...create, name: 'web-2' } }],
          },
          { run: { droplet: '${steps.web.1.ipv4}', type: 'reboot' } },
        ],
      },
      /^steps\[1\]\.run\.droplet: ipv4 is known only for a create run with until: active \(step web run 1 has no until: active\)/,
    ],
    [
      {
        steps: [
          { id: 'boot', run: { droplet: 1, type: 'power_on' } },
          { run: { droplet: '${steps.boot.dropletIds}', type: 'reboot' } },
        ],
      },
      /^steps\[1\]\.run\.droplet: step boot creates no droplet \(dropletIds needs create runs\)/,
    ],
    [
      {
        steps: [
          { run: { droplet: '${steps.later.dropletIds}', type: 'reboot' } },
          { id: 'later', run: { create } },
        ],
      },
      /^steps\[0\]\.run\.droplet: steps\.later is not an earlier step of this chain/,
    ],
    [
      {
        steps: [
          { id: 'web', run: { create } },
          {
            run: {
              reserved_ip: '203.0.113.7',
              type: 'assign',
              params: { droplet_id: '${steps.web.dropletIds}' },
            },
          },
        ],
      },
      /^steps\[1\]\.run\.params\.droplet_id: "\$\{steps\.web\.dropletIds\}" stands for several droplets: use it as a whole run's droplet/,
    ],
    [
      { steps: [{ run: { droplet: 1, type: 'delete', params: { force: true } } }] },
      /^steps\[0\]\.run: a droplet delete takes no params or region/,
    ],
    [
      { steps: [{ run: { droplet: 1, type: 'destroy' } }] },
      /^steps\[0\]\.run\.type must be one of .* or delete for a droplet \(got "destroy"\)/,
    ],
  ])('%j is refused naming the field', (plan, message) => {
    expect(() => parse(plan)).toThrow(message);
  });

  it("${steps.<id>.dropletIds} as a run's droplet runs it once per droplet the step creates", () => {
    const plan = parse({
      steps: [
        {
          id: 'web',
          run: [{ create }, { droplet: 9, type: 'reboot' }, { create: { ...create, name: 'web-2' } }],
        },
        {
          id: 'stop',
          run: [
            { droplet: '${steps.web.dropletIds}', type: 'power_off' },
            { droplet: 9, type: 'power_on' },
          ],
        },
      ],
    });
    expect(plan.steps[1]?.runs).toEqual([
      { kind: 'droplet', resourceId: '${steps.web.0.dropletId}', type: 'power_off' },
      { kind: 'droplet', resourceId: '${steps.web.2.dropletId}', type: 'power_off' },
      { kind: 'droplet', resourceId: 9, type: 'power_on' },
    ]);
  });

  it('a create plan is stored as parsed, and its record parses again', () => {
    const plan = parse(deployPlan(1, '7d3c2a10-5b4e-4c1f-9a8d-000000000001', '203.0.113.7'));
    expect(plan.steps[2]?.runs[0]).toEqual({
      kind: 'droplet',
      type: 'create',
      create: {
        name: 'web-1-ams3',
        region: 'ams3',
        size: 's-2vcpu-4gb',
        image: '${steps.snapshot.imageId}',
        tags: ['web'],
      },
      until: 'active',
    });
    const record = {
      id: 'chain-x',
      fingerprint: 'f',
      createdAt: '2026-01-01T00:00:00.000Z',
      plan,
      current: 0,
      ...initialStepStates(plan),
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(record.steps[2]?.runs).toEqual([
      { kind: 'droplet', type: 'create', region: 'ams3' },
      { kind: 'droplet', type: 'create', region: 'sfo3' },
    ]);
    expect(chainRecordSchema.parse(JSON.parse(JSON.stringify(record)))).toEqual(record);
  });

  it('the dry run shows the create POST with its body and the GETs it makes', () => {
    const plan = parse(deployPlan(1, '7d3c2a10-5b4e-4c1f-9a8d-000000000001', '203.0.113.7'));
    const dry = dryRunChain(plan, { schedule: SCHEDULE, defaultTimeoutMs: 3_600_000 });
    const [ams3] = dry.steps[2]?.actions ?? [];
    expect(ams3).toMatchObject({ kind: 'droplet', type: 'create', resource: 'web-1-ams3' });
    expect(ams3?.calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      'POST /v2/droplets',
      'GET /v2/droplets/{dropletId}/actions/{actionId}',
      'GET /v2/droplets/{dropletId}',
    ]);
    expect(ams3?.calls[0]?.body).toEqual({
      name: 'web-1-ams3',
      region: 'ams3',
      size: 's-2vcpu-4gb',
      image: '${steps.snapshot.imageId}',
      tags: ['web', 'actionwatch:{hash of the run key}'],
    });
    expect(ams3?.calls[2]?.count.typical).toBe(1);
    expect(ams3?.calls[2]?.count.worst).toBeGreaterThan(100);
    const [assign] = dry.steps[3]?.actions ?? [];
    expect(assign?.calls[0]?.body).toEqual({ droplet_id: '${steps.create.0.dropletId}', type: 'assign' });
    expect(dry.requests.steps.posts).toBe(7);
    expect(dry.requests.steps.deletes).toBe(1);
    expect(dry.steps[4]?.actions[0]?.calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      'DELETE /v2/droplets/1',
      'GET /v2/droplets/1',
    ]);
  });
});

describe('chains that create droplets', () => {
  let stack: Stack;
  let watcher: ActionWatcher;
  const posts = () => stack.simulator.requestLog().filter((entry) => entry.route === POST_DROPLETS).length;
  const actionsOf = async (id: number) => {
    const actions: Action[] = [];
    for await (const action of stack.runtime.client().iterateResourceActions('droplet', id))
      actions.push(action);
    return actions;
  };

  beforeAll(async () => {
    ({ stack, watcher } = await startWorkingStack({
      name: 'chain-deploy',
      simulator: {
        defaultDurationMs: 400,
        durationsByType: { snapshot: 600, transfer: 800, create: 800, enable_ipv6: 60_000 },
      },
    }));
  });

  afterAll(async () => {
    await watcher?.close();
    await stack?.close();
  });

  it('snapshots, transfers, creates one droplet per region once, and wires the first one up', async () => {
    const volumeId = '7d3c2a10-5b4e-4c1f-9a8d-000000007001';
    stack.simulator.ensureResource('droplet', 7001, 'nyc3');
    stack.simulator.ensureResource('volume', volumeId, 'ams3');
    stack.simulator.ensureResource('reserved_ip', '203.0.113.71', 'ams3');
    const before = posts();
    const chain = await watcher.chain(deployPlan(7001, volumeId, '203.0.113.71'), { key: 'deploy-7001' });
    const outcome = await watcher.waitForChain(chain.id, { timeout: 30_000 });
    expect(outcome.reason).toBeUndefined();
    expect(outcome.outcome).toBe('completed');
    expect(posts() - before).toBe(2);

    const shown = await runCli(['chains', 'show', chain.id], stack.processEnv());
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout) as Chain;
    const created = view.steps[2]?.runs ?? [];
    expect(created).toHaveLength(2);
    const imageId = view.steps[0]?.runs[0]?.imageId as number;
    for (const [position, region] of ['ams3', 'sfo3'].entries()) {
      const run = created[position];
      expect(run).toMatchObject({ kind: 'droplet', type: 'create', region, outcome: 'completed' });
      expect(run?.resourceId).toBe(run?.dropletId);
      const droplet = stack.simulator.getDroplet(run?.dropletId as number) as {
        name: string;
        status: string;
        image: { id: number };
        tags: string[];
        networks: { v4: Array<{ ip_address: string; type: string }> };
      };
      expect(droplet).toMatchObject({ name: `web-7001-${region}`, status: 'active' });
      expect(run?.ipv4).toBe(droplet.networks.v4.find((network) => network.type === 'public')?.ip_address);
      expect(run?.ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      // Each droplet's create action is the one the run watched.
      expect((await actionsOf(run?.dropletId as number)).map((action) => [action.id, action.type])).toEqual([
        [run?.actionId, 'create'],
      ]);
    }
    const first = created[0]?.dropletId as number;
    expect(view.steps[3]?.runs.map((run) => run.outcome)).toEqual(['completed', 'completed']);
    expect(stack.simulator.getVolume(volumeId)).toMatchObject({ droplet_ids: [first] });
    expect(imageId).toBeGreaterThan(0);
    // The old droplet was deleted once and watched until gone.
    expect(view.steps[4]?.runs).toEqual([
      expect.objectContaining({
        kind: 'droplet',
        type: 'delete',
        resourceId: 7001,
        deleteSent: true,
        watchId: 'droplet-7001-deleted',
        outcome: 'completed',
      }),
    ]);
    expect(stack.simulator.requestLog().filter((entry) => entry.route === DELETE_DROPLET)).toHaveLength(1);
    await expect(stack.runtime.client().getDroplet(7001)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a failing step after the create runs onFailure steps that power the new droplets off', async () => {
    stack.simulator.ensureResource('droplet', 7002, 'nyc3');
    const before = posts();
    const chain = await watcher.chain({
      steps: [
        {
          id: 'create',
          run: [
            {
              create: { name: 'canary-ams3', region: 'ams3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' },
            },
            {
              create: { name: 'canary-sfo3', region: 'sfo3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' },
              until: 'active',
            },
          ],
        },
        { id: 'slow', run: { droplet: 7002, type: 'enable_ipv6' } },
      ],
      onFailure: [
        // Once per droplet the create step made.
        { id: 'power-off', run: { droplet: '${steps.create.dropletIds}', type: 'power_off' } },
        {
          id: 'keep',
          run: {
            droplet: '${steps.create.1.dropletId}',
            type: 'snapshot',
            params: { name: 'canary-at-${steps.create.1.ipv4}' },
          },
        },
      ],
    });
    const slow = await until(async () => (await watcher.getChain(chain.id))?.steps[1]?.runs[0]?.actionId);
    stack.simulator.finishAction(slow, 'errored');
    const outcome = await watcher.waitForChain(chain.id, { timeout: 20_000 });
    expect(outcome).toMatchObject({ outcome: 'errored', failedStep: 'slow' });
    expect(posts() - before).toBe(2);
    const created = outcome.steps[0]?.runs.map((run) => run.dropletId as number) ?? [];
    expect(outcome.steps[0]?.runs[1]?.ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(outcome.steps[0]?.runs[0]?.ipv4).toBeUndefined();
    expect(outcome.onFailure?.[0]).toMatchObject({ status: 'completed' });
    expect(outcome.onFailure?.[0]?.runs.map((run) => run.resourceId)).toEqual(created);
    expect((await actionsOf(created[0] as number)).map((action) => action.type)).toEqual([
      'create',
      'power_off',
    ]);
    expect((await actionsOf(created[1] as number)).map((action) => action.type)).toEqual([
      'create',
      'power_off',
      'snapshot',
    ]);
    // The address, known once active, went into the cleanup's snapshot name.
    expect(outcome.onFailure?.[1]).toMatchObject({ status: 'completed' });
    const names: string[] = [];
    for await (const snapshot of stack.runtime.client().iterateDropletSnapshots(created[1] as number))
      names.push(snapshot.name as string);
    expect(names).toEqual([`canary-at-${outcome.steps[0]?.runs[1]?.ipv4}`]);
  });
});

describe('a chain whose worker is killed with SIGKILL mid-create', () => {
  let stack: Stack;
  let proxy: SimulatorProxy | undefined;
  const children: Array<ReturnType<typeof startCli>> = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await proxy?.close();
    proxy = undefined;
    await stack?.close();
  });

  it('between the create POST landing and its answer: the next worker finds the droplet, never creates it again', async () => {
    stack = await startStack({
      name: 'chain-deploy-kill',
      simulator: { defaultDurationMs: 600, durationsByType: { create: 800 } },
    });
    const workerEnv = (apiUrl: string) =>
      stack.processEnv({
        DIGITALOCEAN_API_URL: apiUrl,
        WORKER_LOCK_DURATION: '2s',
        DIGITALOCEAN_TIMEOUT: '2s',
      });
    proxy = await SimulatorProxy.start(stack.simulator.url);
    // The first create reaches DigitalOcean; its answer is held until the worker is dead.
    proxy.loseAnswers('POST', /^\/v2\/droplets$/, { holdMs: 60_000 });
    const victim = startCli(['worker'], workerEnv(proxy.url));
    children.push(victim);
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const make = (region: string) => ({
      create: { name: `edge-${region}`, region, size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' },
      until: 'active' as const,
    });
    const chain = await watcher.chain(
      {
        steps: [
          { id: 'create', run: [make('ams3'), make('sfo3')] },
          { id: 'reboot', run: { droplet: '${steps.create.0.dropletId}', type: 'reboot' } },
        ],
      },
      { key: 'kill-mid-create' },
    );
    await until(() => (proxy?.lost.length === 1 ? true : undefined), 20_000, 10);
    victim.kill('SIGKILL');
    await exited(victim);
    expect((await watcher.getChain(chain.id))?.steps[0]?.runs[0]?.dropletId).toBeUndefined();

    const survivor = startCli(['worker'], workerEnv(stack.simulator.url));
    children.push(survivor);
    const outcome = await watcher.waitForChain(chain.id, { timeout: 30_000 });
    expect(outcome.reason).toBeUndefined();
    expect(outcome.outcome).toBe('completed');
    // One POST per droplet, the lost one included: the survivor found it by its tag.
    expect(stack.simulator.requestLog().filter((entry) => entry.route === POST_DROPLETS)).toHaveLength(2);
    const runs = outcome.steps[0]?.runs ?? [];
    expect(new Set(runs.map((run) => run.dropletId)).size).toBe(2);
    for (const run of runs) expect(run.ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(outcome.steps[1]?.runs[0]?.resourceId).toBe(runs[0]?.dropletId);
    expect(survivor.output()).toMatch(/was left unfinished/);
    expect(survivor.output()).toMatch(/found the create of droplet edge-ams3 in ams3 already started/);
    await watcher.close();
  });
});
