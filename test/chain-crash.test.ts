// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { afterEach, describe, expect, it } from 'vitest';
import type { ChainPlanInput } from '../src/chains/chain-plan.js';
import type { Action } from '../src/digitalocean/models.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { exited, startCli } from './support/cli.js';
import { SimulatorProxy } from './support/simulator-proxy.js';
import { type Stack, startStack, until } from './support/stack.js';

const plan = (droplet: number): ChainPlanInput => ({
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
    { id: 'power-on', run: { droplet, type: 'power_on' } },
  ],
});

describe('a chain whose worker is killed with SIGKILL mid-chain', () => {
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

  const workerEnv = (apiUrl: string): Record<string, string> =>
    stack.processEnv({
      DIGITALOCEAN_API_URL: apiUrl,
      WORKER_LOCK_DURATION: '2s',
      // Claims of an unfinished start lapse after 2 s + 5 s.
      DIGITALOCEAN_TIMEOUT: '2s',
    });

  const actionsOf = async (kind: 'droplet' | 'image', id: number) => {
    const actions: Action[] = [];
    for await (const action of stack.runtime.client().iterateResourceActions(kind, id)) actions.push(action);
    return actions;
  };

  /** Every action started once, every outcome emitted once, one chain.completed. */
  const expectRunOnce = async (chainId: string, droplet: number) => {
    const outcome = await ActionWatcher.fromRuntime(stack.runtime).waitForChain(chainId, { timeout: 30_000 });
    expect(outcome.outcome).toBe('completed');
    const imageId = outcome.steps[0]?.runs[0]?.imageId as number;
    expect((await actionsOf('droplet', droplet)).map((action) => action.type)).toEqual([
      'snapshot',
      'power_on',
    ]);
    const transfers = await actionsOf('image', imageId);
    expect(transfers.map((action) => action.region_slug).sort()).toEqual(['ams3', 'sfo3']);
    const events = await stack.runtime.redis.xrange(`${stack.prefix}:events`, '-', '+');
    const types = events.map(([, fields]) => `${fields[1]} ${fields[3]}`);
    expect(types.filter((type) => type.startsWith('chain.'))).toEqual([`chain.completed ${chainId}`]);
    const watched = outcome.steps.flatMap((step) =>
      step.runs.map((run) => `action.completed ${run.watchId}`),
    );
    expect(types.filter((type) => type.startsWith('action.')).sort()).toEqual(watched.sort());
    return outcome;
  };

  it('while it waits on a fan-out: another worker finishes the chain, nothing runs twice', async () => {
    stack = await startStack({
      name: 'chain-kill-watch',
      simulator: { defaultDurationMs: 600, durationsByType: { snapshot: 800, transfer: 3_000 } },
    });
    stack.simulator.ensureResource('droplet', 6001);
    const env = workerEnv(stack.simulator.url);
    const victim = startCli(['worker'], env);
    children.push(victim);
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const chain = await watcher.chain(plan(6001), { key: 'kill-while-watching' });
    await until(
      async () => ((await watcher.getChain(chain.id))?.steps[1]?.status === 'watching' ? true : undefined),
      20_000,
    );
    victim.kill('SIGKILL');
    await exited(victim);

    children.push(startCli(['worker'], env));
    await expectRunOnce(chain.id, 6001);
  });

  it('between its POST landing and the answer: the next worker adopts that action instead of starting another', async () => {
    stack = await startStack({
      name: 'chain-kill-post',
      simulator: { defaultDurationMs: 600, durationsByType: { snapshot: 800, transfer: 1_000 } },
    });
    stack.simulator.ensureResource('droplet', 6002);
    proxy = await SimulatorProxy.start(stack.simulator.url);
    // The first transfer reaches DigitalOcean; its answer is held until the worker is dead.
    proxy.loseAnswers('POST', /^\/v2\/images\/\d+\/actions/, { holdMs: 60_000 });
    const victim = startCli(['worker'], workerEnv(proxy.url));
    children.push(victim);
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const chain = await watcher.chain(plan(6002), { key: 'kill-mid-post' });
    await until(() => (proxy?.lost.length === 1 ? true : undefined), 20_000, 10);
    victim.kill('SIGKILL');
    await exited(victim);
    const record = await watcher.getChain(chain.id);
    expect(record?.steps[1]?.runs[0]?.actionId).toBeUndefined();

    const survivor = startCli(['worker'], workerEnv(stack.simulator.url));
    children.push(survivor);
    const outcome = await expectRunOnce(chain.id, 6002);
    expect(outcome.steps[1]?.runs).toHaveLength(2);
    expect(survivor.output()).toMatch(/was left unfinished/);
    expect(survivor.output()).toMatch(/found the transfer of image \d+ to ams3 already started/);
  });
});
