import { afterEach, describe, expect, it } from 'vitest';
import type { ObserveMode } from '../src/config/config.js';
import type { Runtime } from '../src/runtime.js';
import type { Simulator } from '../src/simulator/simulator.js';
import { exited, startCli } from './support/cli.js';
import { type Stack, startStack, until } from './support/stack.js';

/** What the victim is doing when it is killed, per observe mode. */
const MID_REQUEST: Record<ObserveMode, { busy: (simulator: Simulator) => boolean; held: number }> = {
  // Each job makes its own GETs: five held answers mean five jobs locked mid-request.
  direct: { busy: (simulator) => simulator.stats().requests >= 30, held: 5 },
  // One worker sweeps for all: it dies holding the sweep lease in the middle of a list request.
  batched: { busy: (simulator) => (simulator.stats().byRoute['GET /v2/actions'] ?? 0) >= 1, held: 1 },
};

async function assertDeadHolds(mode: ObserveMode, runtime: Runtime, prefix: string): Promise<void> {
  if (mode === 'direct') {
    expect(await runtime.watches.queue.getJobCountByTypes('active')).toBeGreaterThanOrEqual(5);
  } else {
    expect(await runtime.redis.exists(`${prefix}:fleet:default:lease`)).toBe(1);
  }
}

describe('a worker killed with SIGKILL in the middle of watches', () => {
  let stack: Stack;
  const children: Array<ReturnType<typeof startCli>> = [];
  afterEach(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await stack?.close();
  });

  for (const mode of ['direct', 'batched'] as const) {
    it(`${mode}: leaves nothing behind: another worker finishes every watch, each outcome emitted once`, async () => {
      stack = await startStack({ name: `crash-${mode}` });
      const { simulator, runtime, prefix } = stack;
      const env = stack.processEnv({
        POLL_MIN_INTERVAL: '300ms',
        WORKER_LOCK_DURATION: '2s',
        OBSERVE_MODE: mode,
      });
      // The actions end when the test says, not on a clock: however slowly the machine starts the
      // victim, it is killed with watches still running.
      const resultOf = (i: number) => (i % 7 === 0 ? 'errored' : 'completed');
      const refs = Array.from({ length: 30 }, (_, i) => {
        const action = simulator.createAction({
          kind: i % 2 === 0 ? 'droplet' : 'image',
          resourceId: 900 + i,
          durationMs: 3_600_000,
        });
        return {
          kind: action.resource_type as 'droplet' | 'image',
          resourceId: 900 + i,
          actionId: action.id,
        };
      });
      await runtime.watches.watchMany(refs);

      const victim = startCli(['worker', '--concurrency', '30'], env);
      children.push(victim);
      const { busy, held } = MID_REQUEST[mode];
      await until(() => (busy(simulator) ? true : undefined), 20_000);
      // A third end while the victim works (it may record some of them before it dies).
      for (const [i, ref] of refs.slice(0, 10).entries()) simulator.finishAction(ref.actionId, resultOf(i));
      // Hold answers, so the victim dies in the middle of requests, holding locks.
      simulator.injectFault({ kind: 'delay', delayMs: 3_000, times: Number.POSITIVE_INFINITY });
      // Faults are counted as requests arrive, so these requests are provably held.
      await until(() => (simulator.stats().faultsApplied >= held ? true : undefined));
      victim.kill('SIGKILL');
      await exited(victim);
      simulator.clearFaults();
      await assertDeadHolds(mode, runtime, prefix);
      expect((await runtime.watches.list({ state: 'waiting' })).watches.length).toBeGreaterThan(0);
      for (const [i, ref] of refs.entries()) if (i >= 10) simulator.finishAction(ref.actionId, resultOf(i));

      const survivor = startCli(['worker', '--concurrency', '30'], env);
      children.push(survivor);
      const records = await Promise.all(
        refs.map((ref) =>
          runtime.waitForOutcome(`${ref.kind}-${ref.resourceId}-${ref.actionId}`, { timeoutMs: 30_000 }),
        ),
      );
      expect(records.filter((record) => record === undefined)).toHaveLength(0);
      refs.forEach((ref, i) => {
        expect(records[i]?.outcome).toBe(resultOf(i));
        expect(records[i]?.action?.id).toBe(ref.actionId);
      });
      const events = await runtime.redis.xrange(`${prefix}:events`, '-', '+');
      expect(events).toHaveLength(30);
      expect(await runtime.watches.queue.getJobCountByTypes('failed')).toBe(0);
    });
  }
});
