import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import { RunKeys, type StartingRecord } from '../src/runs/run-keys.js';
import type { RunSpec } from '../src/runs/run-request.js';
import { fingerprintOf } from '../src/runs/run-request.js';
import { SimulatorProxy } from './support/simulator-proxy.js';
import { type Stack, startStack } from './support/stack.js';

const POST_IMAGE = 'POST /v2/images/:image_id/actions';

/**
 * DigitalOcean has no idempotency key: these are the ways a start's answer gets lost, and what
 * `run` does so that a retried or resumed start still yields one action.
 */
describe('starting an action when answers are lost or a starter died', () => {
  let stack: Stack;
  let keys: RunKeys;
  const posts = () => stack.simulator.stats().byRoute[POST_IMAGE] ?? 0;
  const transfer = (imageId: number, region: string): RunSpec => ({
    kind: 'image',
    resourceId: imageId,
    body: { type: 'transfer', region },
  });
  /** The claim a starter left on `key` when it died 2 s into its start (`extra`: what else it noted). */
  const leaveDeadClaim = async (key: string, spec: RunSpec, extra: Partial<StartingRecord> = {}) => {
    const now = Date.now();
    const dead: StartingRecord = {
      state: 'starting',
      owner: 'a-process-that-died',
      fingerprint: fingerprintOf(spec),
      expiresAt: now - 1,
      since: now - 2_000,
      ...extra,
    };
    expect(await keys.compareAndSet(key, undefined, dead)).toBeDefined();
  };
  const actionsOf = async (imageId: number) =>
    (await stack.runtime.client().listImageActions(imageId)).actions;

  beforeAll(async () => {
    stack = await startStack({
      name: 'run-recovery',
      simulator: { defaultDurationMs: 5_000 },
      // Short request timeout: a slow answer counts as lost quickly, and claims lapse in 5.5 s.
      env: { DIGITALOCEAN_TIMEOUT: '500ms' },
    });
    keys = new RunKeys(stack.runtime.redis, { prefix: stack.prefix, retentionMs: 60_000 });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('a POST that landed but whose answer was lost is found on DigitalOcean, not sent again', async () => {
    stack.simulator.ensureResource('image', 8001);
    const proxy = await SimulatorProxy.start(stack.simulator.url);
    try {
      const runtime = stack.another({ DIGITALOCEAN_API_URL: proxy.url });
      proxy.loseAnswers('POST', /^\/v2\/images\/8001\/actions/);
      const before = posts();
      const result = await runtime.actionStarter().start(transfer(8001, 'ams3'), { key: 'lost-8001' });
      expect(proxy.lost).toEqual(['POST /v2/images/8001/actions']);
      expect(result).toMatchObject({ started: false, recovered: true });
      expect((await actionsOf(8001)).map((action) => action.id)).toEqual([result.action.id]);
      expect(posts() - before).toBe(1);
      const stored = await keys.get('lost-8001');
      expect(stored?.record).toMatchObject({ state: 'started', actionId: result.action.id });
    } finally {
      await proxy.close();
    }
  });

  it('a POST answered too late is never sent again: with nothing to find, it stops as maybe started, and its key only looks', async () => {
    stack.simulator.ensureResource('image', 8006);
    // The simulator drops a request whose client left during the delay, as a server that never
    // got to act on it would; the client cannot tell that from one that did.
    stack.simulator.injectFault({ kind: 'delay', delayMs: 900, method: 'POST', path: '^/v2/images/8006/' });
    const before = posts();
    const faultsBefore = stack.simulator.stats().faultsApplied;
    const error = await rejectionOf(
      stack.runtime.actionStarter().start(transfer(8006, 'ams3'), { key: 'late-8006' }),
    );
    expect(error).toBeInstanceOf(ActionProbablyStartedError);
    expect((error as Error).message).toMatch(
      /may have been started .*find it with `actionwatch actions image 8006`/,
    );
    // One POST went out, the delayed one (never answered, so not in byRoute), and none after it.
    expect(stack.simulator.stats().faultsApplied - faultsBefore).toBe(1);
    expect(posts() - before).toBe(0);
    expect((await keys.get('late-8006'))?.record).toMatchObject({ state: 'unidentified', answered: false });

    // The same key again looks once more and still sends nothing.
    const again = await rejectionOf(
      stack.runtime.actionStarter().start(transfer(8006, 'ams3'), { key: 'late-8006' }),
    );
    expect(again).toBeInstanceOf(ActionProbablyStartedError);
    expect(posts() - before).toBe(0);
    expect(await actionsOf(8006)).toEqual([]);
  });

  it('a POST whose connection dropped may have landed: it is not sent again, without a key either', async () => {
    stack.simulator.ensureResource('image', 8002);
    stack.simulator.injectFault({ kind: 'drop', method: 'POST', path: '^/v2/images/8002/' });
    const before = posts();
    const error = await rejectionOf(stack.runtime.actionStarter().start(transfer(8002, 'sfo3')));
    expect(error).toBeInstanceOf(ActionProbablyStartedError);
    expect(posts() - before).toBe(1);
  });

  it('a claim left by a starter that died after its POST landed is taken over, and its action adopted', async () => {
    stack.simulator.ensureResource('image', 8003);
    const spec = transfer(8003, 'nyc3');
    await leaveDeadClaim('crashed-8003', spec);
    // What the dead process sent, plus a transfer to another region that must not be mistaken for it.
    const landed = stack.simulator.createAction({
      kind: 'image',
      resourceId: 8003,
      type: 'transfer',
      region: 'nyc3',
    });
    stack.simulator.createAction({ kind: 'image', resourceId: 8003, type: 'transfer', region: 'ams3' });
    const before = posts();
    const result = await stack.runtime.actionStarter().start(spec, { key: 'crashed-8003' });
    expect(result).toMatchObject({ started: false, recovered: true });
    expect(result.action.id).toBe(landed.id);
    expect(posts() - before).toBe(0);
    expect(stack.logs.find((line) => /was left unfinished/.test(String(line.msg)))).toHaveLength(1);
  });

  it('a claim left by a starter that died before its POST landed is taken over and the action started once', async () => {
    stack.simulator.ensureResource('image', 8004);
    const spec = transfer(8004, 'lon1');
    await leaveDeadClaim('crashed-8004', spec);
    const before = posts();
    const result = await stack.runtime.actionStarter().start(spec, { key: 'crashed-8004' });
    expect(result).toMatchObject({ started: true, recovered: false });
    expect(posts() - before).toBe(1);
    expect((await actionsOf(8004)).map((action) => action.id)).toEqual([result.action.id]);
  });

  it('a claim left by a starter that died after sending its POST is never sent again: not found, it stops as maybe started', async () => {
    stack.simulator.ensureResource('image', 8007);
    const spec = transfer(8007, 'tor1');
    await leaveDeadClaim('crashed-8007', spec, { postedAt: Date.now() - 1_500 });
    const before = posts();
    const error = await rejectionOf(stack.runtime.actionStarter().start(spec, { key: 'crashed-8007' }));
    expect(error).toBeInstanceOf(ActionProbablyStartedError);
    expect((error as Error).message).toMatch(
      /may have been started \(a process starting it stopped after sending it\)/,
    );
    expect(posts() - before).toBe(0);
    expect((await keys.get('crashed-8007'))?.record).toMatchObject({
      state: 'unidentified',
      answered: false,
    });
  });

  it('a live claim is waited for, not overtaken, until it lapses', async () => {
    stack.simulator.ensureResource('image', 8005);
    const spec = transfer(8005, 'fra1');
    const claimedAt = Date.now();
    await keys.compareAndSet('busy-8005', undefined, {
      state: 'starting',
      owner: 'a-slow-process',
      fingerprint: fingerprintOf(spec),
      expiresAt: claimedAt + 1_500,
      since: claimedAt,
    });
    const before = posts();
    const result = await stack.runtime.actionStarter().start(spec, { key: 'busy-8005' });
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(1_400);
    expect(result.started).toBe(true);
    expect(posts() - before).toBe(1);
  });
});

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}
