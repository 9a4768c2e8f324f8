// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainOutcomeRecord } from '../src/chains/chain.js';
import type { ChainPlanInput } from '../src/chains/chain-plan.js';
import type { ChainOutcomeSink } from '../src/chains/chain-sink.js';
import type { Action } from '../src/digitalocean/models.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { runCli } from './support/cli.js';
import { REDIS_ENV, SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

describe('chains: steps one after another, fan-out, references, failures', () => {
  let stack: Stack;
  let watcher: ActionWatcher;
  let env: Record<string, string>;
  const accepted: ChainOutcomeRecord[] = [];
  const sink: ChainOutcomeSink = {
    name: 'recording',
    accept: async (record) => {
      accepted.push(record);
    },
  };
  const actionsOf = async (kind: 'droplet' | 'image', id: number) => {
    const actions: Action[] = [];
    for await (const action of stack.runtime.client().iterateResourceActions(kind, id)) actions.push(action);
    return actions;
  };
  const chainEvents = async (chainId: string) =>
    (await stack.runtime.redis.xrange(`${stack.prefix}:events`, '-', '+')).filter(
      ([, fields]) => fields[3] === chainId,
    );
  const deployPlan = (droplet: number, name: string): ChainPlanInput => ({
    name,
    steps: [
      { id: 'snapshot', run: { droplet, type: 'snapshot', params: { name: `${name}-image` } } },
      {
        id: 'transfer',
        run: [
          { image: '${steps.snapshot.imageId}', type: 'transfer', region: 'ams3' },
          { image: '${steps.snapshot.imageId}', type: 'transfer', region: 'sfo3' },
        ],
      },
      { id: 'power-on', run: { droplet, type: 'power_on' } },
    ],
  });

  beforeAll(async () => {
    stack = await startStack({
      name: 'chain',
      simulator: {
        defaultDurationMs: 600,
        durationsByType: { snapshot: 800, transfer: 1_200, enable_ipv6: 30_000 },
      },
    });
    env = {
      ...REDIS_ENV,
      ACTIONWATCH_PREFIX: stack.prefix,
      DIGITALOCEAN_API_URL: stack.simulator.url,
      DIGITALOCEAN_TOKEN: SIM_TOKEN,
    };
    await stack.runtime.startWorker({ concurrency: 8, webhooks: false });
    await stack.runtime.startChainWorker({ sinks: [sink] });
    watcher = ActionWatcher.fromRuntime(stack.runtime);
  });

  afterAll(async () => {
    await watcher?.close();
    await stack?.close();
  });

  it('snapshots, transfers the snapshot image to two regions at once, then powers on: completed', async () => {
    stack.simulator.ensureResource('droplet', 5001);
    const chain = await watcher.chain(deployPlan(5001, 'release-1'), { key: 'release-1' });
    expect(chain).toMatchObject({ id: 'chain-release-1', state: 'running', currentStep: 'snapshot' });
    const outcome = await watcher.waitForChain(chain, { timeout: 20_000 });
    expect(outcome).toMatchObject({
      type: 'chain.completed',
      outcome: 'completed',
      chain: { name: 'release-1' },
    });

    const [snapshot, transfer, powerOn] = outcome.steps;
    const imageId = snapshot?.runs[0]?.imageId;
    // The image is the snapshot whose creation matches the snapshot action's start.
    const snapshots = [];
    for await (const entry of stack.runtime.client().iterateDropletSnapshots(5001)) snapshots.push(entry);
    expect(snapshots.map((entry) => [entry.id, entry.name])).toEqual([[imageId, 'release-1-image']]);
    expect(transfer?.runs.map((run) => [run.resourceId, run.region, run.outcome])).toEqual([
      [imageId, 'ams3', 'completed'],
      [imageId, 'sfo3', 'completed'],
    ]);
    // The fan-out ran at once: both transfers started before either ended.
    const transfers = await actionsOf('image', imageId as number);
    expect(transfers.map((action) => action.region_slug).sort()).toEqual(['ams3', 'sfo3']);
    const lastStart = Math.max(...transfers.map((action) => Date.parse(action.started_at ?? '')));
    const firstEnd = Math.min(...transfers.map((action) => Date.parse(action.completed_at ?? '')));
    expect(lastStart).toBeLessThan(firstEnd);
    // powered on only after both transfers completed
    const droplet = await actionsOf('droplet', 5001);
    expect(droplet.map((action) => action.type)).toEqual(['snapshot', 'power_on']);
    const powerOnAction = droplet[1] as Action;
    for (const action of transfers)
      expect(Date.parse(powerOnAction.started_at ?? '')).toBeGreaterThanOrEqual(
        Date.parse(action.completed_at ?? ''),
      );
    expect(powerOn?.runs[0]?.outcome).toBe('completed');

    const events = await chainEvents(chain.id);
    expect(events.map(([, fields]) => fields[1])).toEqual(['chain.completed']);
    await until(() => accepted.some((record) => record.chain.id === chain.id) || undefined);
    expect((await watcher.getChain(chain.id))?.state).toBe('done');
  });

  it('submitting the same key again joins the chain; another plan under that key is refused', async () => {
    const again = await watcher.chain(deployPlan(5001, 'release-1'), { key: 'release-1' });
    expect(again).toMatchObject({ id: 'chain-release-1', state: 'done', outcome: 'completed' });
    expect((await actionsOf('droplet', 5001)).map((action) => action.type)).toEqual(['snapshot', 'power_on']);
    await expect(watcher.chain(deployPlan(5001, 'release-2'), { key: 'release-1' })).rejects.toThrow(
      /key release-1 was already used for a different chain plan/,
    );
  });

  it('an errored middle step stops the chain: chain.failed once, and the last step never starts', async () => {
    stack.simulator.ensureResource('droplet', 5002);
    const chain = await watcher.chain(deployPlan(5002, 'release-3'));
    // Make one of the two transfers fail once both have started.
    const started = await until(async () => {
      const runs = (await watcher.getChain(chain.id))?.steps[1]?.runs ?? [];
      return runs.length === 2 && runs.every((run) => run.actionId !== undefined) ? runs : undefined;
    });
    stack.simulator.finishAction(started[1]?.actionId as number, 'errored');
    const outcome = await watcher.waitForChain(chain.id, { timeout: 20_000 });
    expect(outcome).toMatchObject({ type: 'chain.failed', outcome: 'errored', failedStep: 'transfer' });
    expect(outcome.reason).toMatch(/step transfer: image \d+ action \d+ \(transfer\) errored/);
    expect(outcome.steps.map((step) => step.status)).toEqual(['completed', 'failed', 'pending']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await actionsOf('droplet', 5002)).map((action) => action.type)).toEqual(['snapshot']);
    expect((await chainEvents(chain.id)).map(([, fields]) => fields[1])).toEqual(['chain.failed']);
  });

  it('a busy droplet rejects its step unless the plan retries pending events', async () => {
    stack.simulator.createAction({ kind: 'droplet', resourceId: 5003, type: 'resize', durationMs: 1_500 });
    const plan = (retryPending?: string): ChainPlanInput => ({
      ...(retryPending === undefined ? {} : { retryPending }),
      steps: [{ id: 'reboot', run: { droplet: 5003, type: 'reboot' } }],
    });
    const rejected = await watcher.waitForChain(await watcher.chain(plan()), { timeout: 10_000 });
    expect(rejected).toMatchObject({ outcome: 'rejected', type: 'chain.failed', failedStep: 'reboot' });
    expect(rejected.reason).toMatch(/droplet 5003 is busy with another action \(422: .*pending event/);

    const retried = await watcher.waitForChain(await watcher.chain(plan('30s')), { timeout: 20_000 });
    expect(retried.outcome).toBe('completed');
    expect((await actionsOf('droplet', 5003)).map((action) => action.type)).toEqual(['resize', 'reboot']);
  });

  it('chains cancel stops a chain before its next step', async () => {
    stack.simulator.ensureResource('droplet', 5004);
    const chain = await watcher.chain({
      steps: [
        { id: 'slow', run: { droplet: 5004, type: 'enable_ipv6' } },
        { id: 'never', run: { droplet: 5004, type: 'reboot' } },
      ],
    });
    await until(async () => (await watcher.getChain(chain.id))?.steps[0]?.runs[0]?.actionId);
    const cancelled = await runCli(['chains', 'cancel', chain.id], env);
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id: chain.id, state: 'done', outcome: 'cancelled' });
    const outcome = await watcher.waitForChain(chain.id, { timeout: 5_000 });
    expect(outcome.type).toBe('chain.cancelled');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await actionsOf('droplet', 5004)).map((action) => action.type)).toEqual(['enable_ipv6']);
    const listed = (await runCli(['chains', 'list', '--state', 'done'], env)).stdout.trim().split('\n');
    expect(listed.map((line) => (JSON.parse(line) as { id: string }).id)).toContain(chain.id);
  });

  describe('plans are checked in full before anything is submitted', () => {
    const files = new TempDir('aw-chain');
    afterAll(() => files.remove());
    const planFile = (text: string, name?: string) => files.file(text, name);
    const step = (run: unknown, id = 'one') => ({ id, run });
    it.concurrent.each([
      [{ steps: [] }, /steps must be a non-empty list/],
      [{ steps: [step({ droplet: 1, type: 'reboot' })], colour: 'red' }, /plan: unknown field "colour"/],
      [
        { steps: [step({ droplet: 1, image: 2, type: 'reboot' })] },
        /steps\[0\].run must name exactly one of droplet, image, volume, reserved_ip, floating_ip, reserved_ipv6/,
      ],
      [
        { steps: [step({ image: 2, type: 'transfer', region: 'moon' })] },
        /steps\[0\].run.region must be a region slug/,
      ],
      [
        {
          steps: [
            step({ image: '${steps.later.imageId}', type: 'convert' }),
            step({ droplet: 1, type: 'snapshot' }, 'later'),
          ],
        },
        /steps\[0\].run.image: steps.later is not an earlier step/,
      ],
      [
        {
          steps: [
            step({ droplet: 1, type: 'reboot' }, 'boot'),
            step({ image: '${steps.boot.imageId}', type: 'convert' }, 'two'),
          ],
        },
        /only a droplet snapshot makes an image \(step boot does not\)/,
      ],
      [
        {
          steps: [
            step(
              [
                { droplet: 1, type: 'snapshot' },
                { droplet: 2, type: 'snapshot' },
              ],
              'snaps',
            ),
            step({ image: '${steps.snaps.imageId}', type: 'convert' }, 'two'),
          ],
        },
        /step snaps runs 2 actions; pick one, e.g. \$\{steps.snaps.0.imageId\}/,
      ],
      [
        { steps: [step({ image: '${oops}', type: 'convert' })] },
        /steps\[0\].run.image must be a number or exactly one reference/,
      ],
      [
        { steps: [step({ droplet: 1, type: 'snapshot', params: { name: 'web-${oops}' } })] },
        /steps\[0\].run.params.name: "\$\{oops\}" is not a reference/,
      ],
      [{ steps: [step({ droplet: 1, type: 'rename' })] }, /steps\[0\].run: rename needs name/],
      [
        { steps: [step({ droplet: 1, type: 'reboot' }), step({ droplet: 1, type: 'reboot' })] },
        /steps\[1\].id one is used twice/,
      ],
    ])('%j', async (plan, message) => {
      const result = await runCli(['chain', planFile(JSON.stringify(plan))], env);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    });

    it('reads YAML, and refuses a file that is neither JSON nor YAML', async () => {
      const yaml = planFile(
        'steps:\n  - id: a\n    run: { droplet: 5005, type: power_cycle }\n',
        'plan.yaml',
      );
      stack.simulator.ensureResource('droplet', 5005);
      const submitted = await runCli(['chain', yaml, '--key', 'yaml-plan', '--wait'], env);
      expect(submitted.code).toBe(0);
      expect(JSON.parse(submitted.stdout)).toMatchObject({
        type: 'chain.completed',
        chain: { id: 'chain-yaml-plan' },
      });
      const broken = await runCli(['chain', planFile('{"steps": [', 'plan.json')], env);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toMatch(/plan.json:\d+:\d+: not valid JSON: /);
    });
  });
});
