// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Chain } from '../src/chains/chain.js';
import { type ChainPlanInput, parseChainPlan } from '../src/chains/chain-plan.js';
import { chainOutcomeRecordSchema, chainRecordSchema } from '../src/chains/chain-record-schemas.js';
import type { Action } from '../src/digitalocean/models.js';
import type { ActionWatcher } from '../src/library/action-watcher.js';
import { chainWebhookPayload } from '../src/notifications/webhooks/chain-webhook-message.js';
import { runCli } from './support/cli.js';
import { type Stack, startWorkingStack, until } from './support/stack.js';

describe('chain plans: onFailure is checked like steps', () => {
  const parse = (plan: unknown) => parseChainPlan(plan, (url) => url);
  const main = [{ id: 'snap', run: { droplet: 1, type: 'snapshot' } }];

  it.each([
    [{ steps: main, onFailure: [] }, /^onFailure must be a non-empty list of steps$/],
    [
      { steps: main, onFailure: [{ run: { droplet: 'x', type: 'power_on' } }] },
      /^onFailure\[0\]\.run\.droplet /,
    ],
    [
      {
        steps: main,
        onFailure: [
          {
            id: 'undo',
            run: [
              { droplet: 1, type: 'reboot' },
              { droplet: 1, type: 'fly' },
            ],
          },
        ],
      },
      /^onFailure\[0\]\.run\[1\]\.type must be one of /,
    ],
    [
      { steps: main, onFailure: [{ id: 'snap', run: { droplet: 1, type: 'power_on' } }] },
      /^onFailure\[0\]\.id snap is used twice$/,
    ],
    [
      { steps: main, onFailure: [{ run: { image: '${steps.nope.imageId}', type: 'convert' } }] },
      /^onFailure\[0\]\.run\.image: steps\.nope is not an earlier step/,
    ],
    [
      {
        steps: main,
        onFailure: [
          { run: { image: '${steps.later.imageId}', type: 'convert' } },
          { id: 'later', run: { droplet: 1, type: 'snapshot' } },
        ],
      },
      /^onFailure\[0\]\.run\.image: steps\.later is not an earlier step/,
    ],
    [
      { steps: main, onFailure: [{ run: { droplet: 1, type: 'power_on' }, when: 'always' }] },
      /^onFailure\[0\]: unknown field "when"/,
    ],
  ])('%j', (plan, message) => {
    expect(() => parse(plan)).toThrow(message);
  });

  it('a cleanup step may refer to any main step and to the cleanup steps before it', () => {
    const plan = parse({
      steps: [
        { id: 'snap', run: { droplet: 1, type: 'snapshot' } },
        { id: 'boot', run: { droplet: 1, type: 'power_on' } },
      ],
      onFailure: [
        { run: { image: '${steps.snap.imageId}', type: 'convert' } },
        { run: { droplet: '${steps.boot.resourceId}', type: 'reboot', params: {} } },
      ],
    });
    expect(plan.onFailure?.map((step) => step.id)).toEqual(['cleanup-1', 'cleanup-2']);
    expect(plan.steps.map((step) => step.id)).toEqual(['snap', 'boot']);
  });

  it('records written before onFailure existed still parse', () => {
    const step = { id: 'a', status: 'completed', runs: [{ kind: 'droplet', type: 'reboot', resourceId: 1 }] };
    const old = {
      id: 'chain-old',
      fingerprint: 'f',
      createdAt: '2026-01-01T00:00:00.000Z',
      plan: { steps: [{ id: 'a', runs: [{ kind: 'droplet', resourceId: 1, type: 'reboot' }] }] },
      current: 1,
      steps: [step],
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(chainRecordSchema.parse(old)).toEqual(old);
    const outcome = {
      type: 'chain.completed',
      outcome: 'completed',
      chain: { id: 'chain-old', createdAt: old.createdAt, finishedAt: old.updatedAt },
      steps: [step],
    };
    expect(chainOutcomeRecordSchema.parse(outcome)).toEqual(outcome);
    expect(chainWebhookPayload(chainOutcomeRecordSchema.parse(outcome)).data.chain).not.toHaveProperty(
      'onFailure',
    );
  });
});

describe('chains: onFailure steps run when a chain fails', () => {
  let stack: Stack;
  let watcher: ActionWatcher;
  const actionsOf = async (kind: 'droplet' | 'image', id: number) => {
    const actions: Action[] = [];
    for await (const action of stack.runtime.client().iterateResourceActions(kind, id)) actions.push(action);
    return actions;
  };
  const chainEvents = async (chainId: string) =>
    (await stack.runtime.redis.xrange(`${stack.prefix}:events`, '-', '+'))
      .filter(([, fields]) => fields[3] === chainId)
      .map(([, fields]) => fields[1]);
  /** Waits until the chain's step `index` has started every action, and returns their ids. */
  const startedActions = async (chainId: string, index: number) =>
    until(async () => {
      const runs = (await watcher.getChain(chainId))?.steps[index]?.runs ?? [];
      const ids = runs.map((run) => run.actionId);
      return ids.length > 0 && ids.every((id) => id !== undefined) ? (ids as number[]) : undefined;
    });
  /** Resolves once the chain's job has completed: nothing more will be sent for it. */
  const jobDone = (chainId: string) =>
    until(
      async () => (await (await stack.runtime.chains().queue.getJob(chainId))?.getState()) === 'completed',
    );

  beforeAll(async () => {
    ({ stack, watcher } = await startWorkingStack({
      name: 'chain-on-failure',
      simulator: {
        defaultDurationMs: 400,
        durationsByType: { snapshot: 600, enable_ipv6: 60_000, power_cycle: 60_000 },
      },
    }));
  });

  afterAll(async () => {
    await watcher?.close();
    await stack?.close();
  });

  it('a failed step runs the cleanup steps, then the chain ends once with its original failure', async () => {
    stack.simulator.ensureResource('droplet', 6001);
    const plan: ChainPlanInput = {
      name: 'release-with-cleanup',
      steps: [
        { id: 'snapshot', run: { droplet: 6001, type: 'snapshot', params: { name: 'rel-image' } } },
        { id: 'slow', run: { droplet: 6001, type: 'enable_ipv6' } },
        { id: 'power-on', run: { droplet: 6001, type: 'power_on' } },
      ],
      onFailure: [
        { id: 'back-on', run: { droplet: '${steps.snapshot.resourceId}', type: 'power_on' } },
        { id: 'convert', run: { image: '${steps.snapshot.imageId}', type: 'convert' } },
      ],
    };
    const chain = await watcher.chain(plan, { key: 'cleanup-1' });
    expect(chain.onFailure?.map((step) => [step.id, step.status])).toEqual([
      ['back-on', 'pending'],
      ['convert', 'pending'],
    ]);
    const [slowAction] = await startedActions(chain.id, 1);
    stack.simulator.finishAction(slowAction as number, 'errored');

    const outcome = await watcher.waitForChain(chain.id, { timeout: 20_000 });
    expect(outcome).toMatchObject({ type: 'chain.failed', outcome: 'errored', failedStep: 'slow' });
    expect(outcome.reason).toMatch(/^step slow: droplet 6001 action \d+ \(enable_ipv6\) errored/);
    expect(outcome.steps.map((step) => step.status)).toEqual(['completed', 'failed', 'pending']);
    // The outcome came after the cleanup steps ended: they show completed in it.
    expect(outcome.onFailure?.map((step) => [step.id, step.status, step.runs[0]?.outcome])).toEqual([
      ['back-on', 'completed', 'completed'],
      ['convert', 'completed', 'completed'],
    ]);
    const imageId = outcome.steps[0]?.runs[0]?.imageId as number;
    expect(outcome.onFailure?.[1]?.runs[0]?.resourceId).toBe(imageId);
    expect((await actionsOf('droplet', 6001)).map((action) => action.type)).toEqual([
      'snapshot',
      'enable_ipv6',
      'power_on',
    ]);
    expect((await actionsOf('image', imageId)).map((action) => action.type)).toEqual(['convert']);
    expect(await chainEvents(chain.id)).toEqual(['chain.failed']);
    expect(chainWebhookPayload(outcome).data.chain.onFailure?.map((step) => step.status)).toEqual([
      'completed',
      'completed',
    ]);

    const shown = await runCli(['chains', 'show', chain.id], stack.processEnv());
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout) as Chain;
    expect(view).toMatchObject({ state: 'done', outcome: 'errored', failedStep: 'slow' });
    expect(view.onFailure?.map((step) => step.status)).toEqual(['completed', 'completed']);
  });

  it('a cleanup step that refers to a step that never ran fails on its own; the next one still runs', async () => {
    stack.simulator.ensureResource('droplet', 6002);
    const chain = await watcher.chain({
      steps: [
        { id: 'slow', run: { droplet: 6002, type: 'enable_ipv6' } },
        { id: 'snapshot', run: { droplet: 6002, type: 'snapshot' } },
      ],
      onFailure: [
        { id: 'convert', run: { image: '${steps.snapshot.imageId}', type: 'convert' } },
        { id: 'boot', run: { droplet: 6002, type: 'power_on' } },
      ],
    });
    const [slowAction] = await startedActions(chain.id, 0);
    stack.simulator.finishAction(slowAction as number, 'errored');
    const outcome = await watcher.waitForChain(chain.id, { timeout: 20_000 });
    // The cleanup's failure is recorded and hides nothing: the chain failed at `slow`.
    expect(outcome).toMatchObject({ outcome: 'errored', failedStep: 'slow' });
    expect(outcome.reason).toMatch(/^step slow: /);
    expect(outcome.onFailure?.map((step) => [step.id, step.status])).toEqual([
      ['convert', 'failed'],
      ['boot', 'completed'],
    ]);
    expect(outcome.onFailure?.[0]?.reason).toBe(
      'step convert: steps.snapshot.imageId has no value (step snapshot never ran)',
    );
    expect((await actionsOf('droplet', 6002)).map((action) => action.type)).toEqual([
      'enable_ipv6',
      'power_on',
    ]);
    expect(await chainEvents(chain.id)).toEqual(['chain.failed']);
  });

  it('a rejected start runs the cleanup steps too', async () => {
    stack.simulator.createAction({ kind: 'droplet', resourceId: 6003, type: 'resize', durationMs: 60_000 });
    stack.simulator.ensureResource('droplet', 6004);
    const chain = await watcher.chain({
      steps: [{ id: 'reboot', run: { droplet: 6003, type: 'reboot' } }],
      onFailure: [{ id: 'other', run: { droplet: 6004, type: 'power_on' } }],
    });
    const outcome = await watcher.waitForChain(chain.id, { timeout: 20_000 });
    expect(outcome).toMatchObject({ outcome: 'rejected', failedStep: 'reboot' });
    expect(outcome.onFailure?.map((step) => step.status)).toEqual(['completed']);
  });

  it('a cancelled chain runs no cleanup steps', async () => {
    stack.simulator.ensureResource('droplet', 6005);
    const chain = await watcher.chain({
      steps: [{ id: 'slow', run: { droplet: 6005, type: 'enable_ipv6' } }],
      onFailure: [{ id: 'boot', run: { droplet: 6005, type: 'power_on' } }],
    });
    await startedActions(chain.id, 0);
    await stack.runtime.chains().cancel(chain.id);
    const outcome = await watcher.waitForChain(chain.id, { timeout: 5_000 });
    expect(outcome.outcome).toBe('cancelled');
    await jobDone(chain.id);
    expect((await actionsOf('droplet', 6005)).map((action) => action.type)).toEqual(['enable_ipv6']);
    expect((await watcher.getChain(chain.id))?.onFailure?.map((step) => step.status)).toEqual(['pending']);
  });

  it('a cancel during the cleanup stops it: cancelled, naming the failure it cleaned up after', async () => {
    stack.simulator.ensureResource('droplet', 6006);
    const chain = await watcher.chain({
      steps: [{ id: 'cycle', run: { droplet: 6006, type: 'power_cycle' } }],
      onFailure: [
        { id: 'slow-cleanup', run: { droplet: 6006, type: 'enable_ipv6' } },
        { id: 'never', run: { droplet: 6006, type: 'power_on' } },
      ],
    });
    const [cycle] = await startedActions(chain.id, 0);
    stack.simulator.finishAction(cycle as number, 'errored');
    const cleaning = await until(async () => {
      const now = await watcher.getChain(chain.id);
      return now?.onFailure?.[0]?.status === 'watching' ? now : undefined;
    });
    expect(cleaning).toMatchObject({ state: 'running', currentStep: 'slow-cleanup', failedStep: 'cycle' });
    await stack.runtime.chains().cancel(chain.id);
    const outcome = await watcher.waitForChain(chain.id, { timeout: 5_000 });
    expect(outcome).toMatchObject({ outcome: 'cancelled', failedStep: 'cycle' });
    expect(outcome.reason).toMatch(/^cancelled by request during the onFailure steps after: step cycle: /);
    await jobDone(chain.id);
    expect((await actionsOf('droplet', 6006)).map((action) => action.type)).toEqual([
      'power_cycle',
      'enable_ipv6',
    ]);
    expect(await chainEvents(chain.id)).toEqual(['chain.cancelled']);
  });
});
