import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurationLearner } from '../src/fleet/duration-learner.js';
import { buildServer } from '../src/http/server.js';
import type { Watch } from '../src/watches/watch.js';
import { withEta } from '../src/watches/watch-eta.js';
import { runCli } from './support/cli.js';
import { type Stack, startStack, until } from './support/stack.js';

const API_TOKEN = 'api-token-for-eta-tests-0123456789';

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A learner whose Redis is never reached: `learn` writes go to this stand-in. */
function offlineLearner(): DurationLearner {
  const redis = { hincrby: async () => 1, hgetall: async () => ({}) };
  return new DurationLearner(redis as never, 'unused');
}

const NOW = Date.parse('2026-01-01T12:00:00Z');

function waitingWatch(overrides: Partial<Watch> = {}): Watch {
  return {
    id: 'droplet-1-2',
    kind: 'droplet',
    resourceId: 1,
    actionId: 2,
    state: 'waiting',
    outcome: null,
    action: null,
    polls: 0,
    enqueuedAt: new Date(NOW - 10_000).toISOString(),
    finishedAt: null,
    deadlineAt: new Date(NOW + 3_600_000).toISOString(),
    eta: null,
    etaBasis: null,
    ...overrides,
  };
}

describe('DurationLearner.estimate', () => {
  it('answers from the built-in default before anything is learned', () => {
    const estimate = offlineLearner().estimate('droplet', 'reboot', 0);
    expect(estimate.basis).toBe('default');
    // The default spreads 10 s … 2 h evenly in log scale: its median is √(10 s × 2 h) ≈ 268 s.
    expect(estimate.remainingMs).toBeGreaterThan(240_000);
    expect(estimate.remainingMs).toBeLessThan(300_000);
  });

  it('answers from the durations learned for the type, conditioned on how long it has run', async () => {
    const learner = offlineLearner();
    for (let i = 0; i < 20; i += 1) await learner.learn('droplet', 'power_on', 60_000);
    const fresh = learner.estimate('droplet', 'power_on', 0);
    expect(fresh.basis).toBe('learned');
    // Within the histogram bucket that holds 60 s (57.7 s … 86.5 s).
    expect(fresh.remainingMs).toBeGreaterThan(57_000);
    expect(fresh.remainingMs).toBeLessThan(87_000);
    const later = learner.estimate('droplet', 'power_on', 50_000);
    expect(later.basis).toBe('learned');
    expect(later.remainingMs).toBeLessThan(fresh.remainingMs as number);
    // Far shorter than what the default would say for the same type unlearned.
    expect(fresh.remainingMs).toBeLessThan(
      offlineLearner().estimate('droplet', 'power_on', 0).remainingMs as number,
    );
  });

  it("falls back to the kind's history for a type not seen yet, and to none once it outlived them all", async () => {
    const learner = offlineLearner();
    for (let i = 0; i < 10; i += 1) await learner.learn('droplet', 'reboot', 5_000);
    expect(learner.estimate('droplet', 'power_cycle', 0).basis).toBe('kind');
    expect(learner.estimate('image', 'transfer', 0).basis).toBe('default');
    expect(learner.estimate('droplet', 'reboot', 3_600_000)).toEqual({
      remainingMs: undefined,
      basis: 'outlived',
    });
  });
});

describe('DurationLearner.estimate by region', () => {
  it("prefers the type's history in the action's region once it has a few samples", async () => {
    const learner = offlineLearner();
    for (let i = 0; i < 20; i += 1) await learner.learn('image', 'transfer', 60_000, 'nyc3');
    for (let i = 0; i < 20; i += 1) await learner.learn('image', 'transfer', 1_200_000, 'ams3');
    const nyc3 = learner.estimate('image', 'transfer', 0, { region: 'nyc3' });
    const ams3 = learner.estimate('image', 'transfer', 0, { region: 'ams3' });
    const anywhere = learner.estimate('image', 'transfer', 0, { region: 'sfo3' });
    expect(nyc3.basis).toBe('region');
    expect(ams3.basis).toBe('region');
    expect(anywhere.basis).toBe('learned');
    expect(nyc3.remainingMs).toBeLessThan(120_000);
    expect(ams3.remainingMs).toBeGreaterThan(600_000);
    expect(anywhere.remainingMs).toBeGreaterThan(nyc3.remainingMs as number);
    expect(anywhere.remainingMs).toBeLessThan(ams3.remainingMs as number);
    // Two samples in a region are not enough to lead.
    await learner.learn('image', 'transfer', 60_000, 'sgp1');
    await learner.learn('image', 'transfer', 60_000, 'sgp1');
    expect(learner.estimate('image', 'transfer', 0, { region: 'sgp1' }).basis).toBe('learned');
  });

  it('learns the region from an ended action', async () => {
    const learner = offlineLearner();
    for (let i = 0; i < 3; i += 1)
      await learner.learnFrom({
        id: i,
        status: 'completed',
        type: 'snapshot',
        resource_type: 'droplet',
        started_at: '2026-01-01T12:00:00Z',
        completed_at: '2026-01-01T12:05:00Z',
        region_slug: 'fra1',
      });
    expect(learner.estimate('droplet', 'snapshot', 0, { region: 'fra1' }).basis).toBe('region');
  });
});

describe('withEta', () => {
  it('is null for a finished watch', () => {
    const done = waitingWatch({
      state: 'done',
      outcome: 'completed',
      finishedAt: new Date(NOW).toISOString(),
    });
    expect(withEta(done, offlineLearner(), NOW)).toMatchObject({ eta: null, etaBasis: null });
  });

  it('is the same on every read until its time passes, then moves with the clock', async () => {
    const learner = offlineLearner();
    for (let i = 0; i < 20; i += 1) await learner.learn('droplet', 'power_on', 60_000);
    const watch = waitingWatch({
      polls: 1,
      action: {
        id: 2,
        status: 'in-progress',
        type: 'power_on',
        resource_type: 'droplet',
        started_at: new Date(NOW - 30_000).toISOString(),
      } as Watch['action'],
    });
    const first = withEta(watch, learner, NOW);
    expect(withEta(watch, learner, NOW + 5_000).eta).toBe(first.eta);
    // Past the typical 70 s (every one learned ran 57.7 s … 86.5 s), short of the longest.
    const overdue = NOW + 50_000;
    const late = withEta(watch, learner, overdue);
    expect(late.etaBasis).toBe('learned');
    expect(Date.parse(late.eta as string)).toBeGreaterThan(overdue);
    // Far past every duration learned: no estimate.
    expect(withEta(watch, learner, NOW + 3_600_000)).toMatchObject({ eta: null, etaBasis: 'outlived' });
  });

  it('counts from the enqueue time before the first poll, from started_at after it', async () => {
    const learner = offlineLearner();
    for (let i = 0; i < 20; i += 1) await learner.learn('droplet', 'power_on', 60_000);
    const unpolled = withEta(waitingWatch(), learner, NOW);
    // The type is not known before the first poll: the droplets' history stands in.
    expect(unpolled.etaBasis).toBe('kind');
    expect(withEta(waitingWatch({ kind: 'image' }), learner, NOW).etaBasis).toBe('default');
    const polled = withEta(
      waitingWatch({
        polls: 1,
        action: {
          id: 2,
          status: 'in-progress',
          type: 'power_on',
          resource_type: 'droplet',
          started_at: new Date(NOW - 30_000).toISOString(),
        } as Watch['action'],
      }),
      learner,
      NOW,
    );
    expect(polled.etaBasis).toBe('learned');
    const eta = Date.parse(polled.eta as string);
    // Started 30 s ago, every one learned took 60 s (read as 57.7 s … 86.5 s): its start plus that.
    expect(eta - (NOW - 30_000)).toBeGreaterThan(57_000);
    expect(eta - (NOW - 30_000)).toBeLessThan(87_000);
    expect(Date.parse(unpolled.eta as string)).toBeGreaterThan(eta);
  });
});

describe('eta on real watches: library, HTTP API, list and show', () => {
  let stack: Stack;
  let app: FastifyInstance;
  const auth = { authorization: `Bearer ${API_TOKEN}` };

  beforeAll(async () => {
    stack = await startStack({ name: 'watch-eta', env: { API_TOKEN } });
    app = await buildServer(stack.runtime, { readinessCacheMs: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await stack?.close();
  });

  it('reads regional history from Redis beside the type, without counting it twice for the kind', async () => {
    const prefix = `${stack.prefix}:regions`;
    const writer = new DurationLearner(stack.runtime.redis, prefix);
    for (let i = 0; i < 3; i += 1) await writer.learn('droplet', 'reboot', 30_000, 'nyc3');
    const reader = new DurationLearner(stack.runtime.redis, prefix);
    await reader.refresh(true);
    expect(reader.samples('droplet', 'reboot')).toBe(3);
    expect(reader.estimate('droplet', 'reboot', 0, { region: 'nyc3' }).basis).toBe('region');
    // The kind has 3 samples, not 6: short of the 5 it needs to stand in for another type.
    expect(reader.estimate('droplet', 'power_cycle', 0).basis).toBe('default');
  });

  it('is the default before anything is learned and the learned duration once it is, everywhere a watch is shown', async () => {
    const env = stack.processEnv();
    const unlearned = stack.simulator.createAction({
      kind: 'droplet',
      resourceId: 801,
      type: 'power_on',
      durationMs: 600_000,
    });
    const first = (
      await stack.runtime.watches.watch({ kind: 'droplet', resourceId: 801, actionId: unlearned.id })
    ).watch;
    expect(first.state).toBe('waiting');
    expect(first.etaBasis).toBe('default');
    expect(Date.parse(first.eta as string)).toBeGreaterThan(Date.now());

    // What a worker observing in batches learns, written the way it writes it.
    const learner = new DurationLearner(stack.runtime.redis, stack.prefix);
    for (let i = 0; i < 20; i += 1) await learner.learn('droplet', 'power_on', 900_000);
    await stack.runtime.startWorker({ observeMode: 'direct', webhooks: false });
    const polled = await until(async () => {
      const watch = await stack.runtime.watches.get(first.id);
      return watch !== undefined && watch.polls > 0 && watch.action?.type === 'power_on' ? watch : undefined;
    });
    // The learner is re-read every few seconds: wait for this process's copy to take it in.
    const learned = await until(async () => {
      const watch = await stack.runtime.watches.get(first.id);
      return watch?.etaBasis === 'learned' ? watch : undefined;
    });
    expect(polled.state).toBe('waiting');
    const etaMs = Date.parse(learned.eta as string) - Date.now();
    // Learned: 900 s each, started moments ago; the default would say about 4.5 min.
    expect(etaMs).toBeGreaterThan(600_000);
    expect(etaMs).toBeLessThan(960_000);

    const one = await app.inject({ method: 'GET', url: `/v1/watches/${first.id}`, headers: auth });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: first.id, etaBasis: 'learned' });
    expect(Date.parse(one.json().eta)).toBeGreaterThan(Date.now() + 600_000);

    const page = await app.inject({ method: 'GET', url: '/v1/watches?state=waiting', headers: auth });
    expect(page.statusCode).toBe(200);
    expect(page.json().watches).toEqual([expect.objectContaining({ id: first.id, etaBasis: 'learned' })]);

    const waited = await app.inject({
      method: 'GET',
      url: `/v1/watches/${first.id}/wait?timeout=100ms`,
      headers: auth,
    });
    expect(waited.statusCode).toBe(202);
    expect(waited.json()).toMatchObject({ etaBasis: 'learned', eta: expect.any(String) });

    const listed = await runCli(['list', '--state', 'waiting'], env);
    expect(listed.code).toBe(0);
    expect(jsonLines(listed.stdout)).toEqual([
      expect.objectContaining({ id: first.id, etaBasis: 'learned' }),
    ]);
    const table = await runCli(['list', '--state', 'waiting', '--output', 'table'], env);
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/\bETA\b/);
    expect(row).toContain(String(learned.eta).slice(0, 16));

    const shown = await runCli(['show', first.id, '--output', 'table'], env);
    expect(shown.stdout).toMatch(/^eta\s+\d{4}-\d\d-\d\dT\S+ \(learned\)$/m);

    // Done: no eta, in the API's JSON as in the library's.
    stack.simulator.finishAction(unlearned.id, 'completed');
    const done = await until(async () => {
      const watch = await stack.runtime.watches.get(first.id);
      return watch?.state === 'done' ? watch : undefined;
    });
    expect(done).toMatchObject({ eta: null, etaBasis: null });
    const doneJson = await app.inject({ method: 'GET', url: `/v1/watches/${first.id}`, headers: auth });
    expect(doneJson.json()).toMatchObject({ eta: null, etaBasis: null });
  });

  it('is learned by a worker polling directly too: every action it sees end adds to its type', async () => {
    const worker = stack.another({ OBSERVE_MODE: 'direct' });
    await worker.startWorker({ observeMode: 'direct', webhooks: false });
    const reader = new DurationLearner(stack.runtime.redis, stack.prefix);
    await reader.refresh(true);
    const before = reader.samples('droplet', 'password_reset');
    const actions = [811, 812].map((resourceId) =>
      stack.simulator.createAction({ kind: 'droplet', resourceId, type: 'password_reset', durationMs: 300 }),
    );
    const watches = await Promise.all(
      actions.map((action, index) =>
        stack.runtime.watches.watch({ kind: 'droplet', resourceId: 811 + index, actionId: action.id }),
      ),
    );
    for (const { watch } of watches)
      await until(async () =>
        (await stack.runtime.watches.get(watch.id))?.state === 'done' ? true : undefined,
      );
    await reader.refresh(true);
    expect(reader.samples('droplet', 'password_reset')).toBe(before + 2);
    expect(reader.estimate('droplet', 'password_reset', 0).basis).toBe('learned');
  });
});
