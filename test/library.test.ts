import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ActionRejectedError,
  ActionWatcher,
  type ChainOutcomeRecord,
  InputError,
  type OutcomeRecord,
  RedisConnectionError,
  WaitTimeoutError,
} from '../src/index.js';
import { REDIS_URL, type Stack, startStack } from './support/stack.js';

describe('the library: import { ActionWatcher } from actionwatch', () => {
  let stack: Stack;
  let aw: ActionWatcher;

  beforeAll(async () => {
    // The simulator and a private Redis prefix; the watcher builds its own Runtime from env.
    stack = await startStack({ name: 'library', simulator: { defaultDurationMs: 700 } });
    aw = await ActionWatcher.create({
      env: stack.processEnv({ LOG_LEVEL: 'silent' }),
      worker: true,
    });
  });

  afterAll(async () => {
    await aw?.close();
    await stack?.close();
  });

  it('awaits a transfer in three lines, and emits its outcome from the events stream', async () => {
    stack.simulator.ensureResource('image', 9101);
    const completed: OutcomeRecord[] = [];
    aw.on('completed', (record) => completed.push(record));
    await aw.ready();

    const { watch } = await aw.run({ kind: 'image', resourceId: 9101, type: 'transfer', region: 'ams3' });
    const outcome = await aw.waitFor(watch, { timeout: '10s' });

    expect(outcome).toMatchObject({
      outcome: 'completed',
      action: { type: 'transfer', region_slug: 'ams3' },
    });
    await expect.poll(() => completed.map((record) => record.watch.id)).toContain(watch.id);
  });

  it('create() refuses a Redis database the server does not have, with RedisConnectionError', async () => {
    const created = ActionWatcher.create({
      env: stack.processEnv({
        LOG_LEVEL: 'silent',
        REDIS_URL: `${REDIS_URL.replace(/\/\d*$/, '')}/99`,
      }),
    });
    await expect(created).rejects.toBeInstanceOf(RedisConnectionError);
    await expect(created).rejects.toMatchObject({
      failure: 'database',
      message: expect.stringMatching(/no database 99/),
    });
  });

  it('waitFor rejects with WaitTimeoutError when the timeout passes first; the watch goes on', async () => {
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 9102, durationMs: 60_000 });
    const ref = { kind: 'droplet', resourceId: 9102, actionId: action.id } as const;
    const started = Date.now();
    const waiting = aw.waitFor(ref, { timeout: 300 });
    await expect(waiting).rejects.toBeInstanceOf(WaitTimeoutError);
    await expect(waiting).rejects.toMatchObject({ id: `droplet-9102-${action.id}`, timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((await aw.runtime.watches.get(`droplet-9102-${action.id}`))?.state).toBe('waiting');
  });

  it('waitFor rejects with the signal’s reason on abort, or an AbortError without one', async () => {
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 9103, durationMs: 60_000 });
    const ref = { kind: 'droplet', resourceId: 9103, actionId: action.id } as const;
    const reason = new Error('deploy cancelled');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 200);
    await expect(aw.waitFor(ref, { signal: controller.signal })).rejects.toBe(reason);

    const bare = new AbortController();
    setTimeout(() => bare.abort(), 200);
    await expect(aw.waitFor(ref, { signal: bare.signal })).rejects.toMatchObject({ name: 'AbortError' });

    await expect(aw.waitFor(ref, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('runs a chain and emits chain.completed; refuses bad input with typed errors', async () => {
    stack.simulator.ensureResource('droplet', 9104);
    const chains: ChainOutcomeRecord[] = [];
    aw.on('chain.completed', (record) => chains.push(record));
    await aw.ready();
    const chain = await aw.chain({
      steps: [
        { id: 'snap', run: { droplet: 9104, type: 'snapshot' } },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a chain reference
        { id: 'copy', run: { image: '${steps.snap.imageId}', type: 'transfer', region: 'lon1' } },
      ],
    });
    const outcome = await aw.waitForChain(chain, { timeout: '20s' });
    expect(outcome.outcome).toBe('completed');
    await expect.poll(() => chains.map((record) => record.chain.id)).toContain(chain.id);

    await expect(aw.waitForChain('chain-none', { timeout: 100 })).rejects.toBeInstanceOf(InputError);
    await expect(aw.waitFor('droplet-1-2')).rejects.toThrow(/no watch with id droplet-1-2/);
    await expect(
      aw.run({ kind: 'image', resourceId: 1, type: 'transfer', region: '' }),
    ).rejects.toBeInstanceOf(InputError);
    stack.simulator.createAction({ kind: 'droplet', resourceId: 9105, durationMs: 60_000 });
    await expect(aw.run({ kind: 'droplet', resourceId: 9105, type: 'reboot' })).rejects.toMatchObject({
      constructor: ActionRejectedError,
      pending: true,
    });
  });
});
