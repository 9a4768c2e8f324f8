// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { DelayedError, type Job } from 'bullmq';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type ChainOutcomeRecord, type ChainRecord, initialStepStates } from '../src/chains/chain.js';
import { chainCleanupRunKey, chainRunKey } from '../src/chains/chain-keys.js';
import type { ChainOutcomeStore } from '../src/chains/chain-outcome-store.js';
import { type ChainPlanInput, parseChainPlan } from '../src/chains/chain-plan.js';
import { ChainProcessor } from '../src/chains/chain-processor.js';
import type { ChainJobData } from '../src/chains/chain-queue.js';
import type { ChainStore } from '../src/chains/chain-store.js';
import type { DigitalOceanClient } from '../src/digitalocean/client.js';
import type { Action, Droplet, Snapshot } from '../src/digitalocean/models.js';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import { ActionRejectedError } from '../src/errors/action-rejected-error.js';
import { BudgetExhaustedError } from '../src/errors/budget-exhausted-error.js';
import { RateLimitedError, TransientError, UnauthorizedError } from '../src/errors/digitalocean-api-error.js';
import type { ActionStarter, StartResult } from '../src/runs/action-starter.js';
import type { CreateSpec } from '../src/runs/droplet-create.js';
import type { RunSpec } from '../src/runs/run-request.js';
import type { Outcome, OutcomeRecord } from '../src/watches/watch.js';
import type { WatchQueue, WatchRequest } from '../src/watches/watch-queue.js';

/**
 * ChainProcessor's decisions, one activation at a time, over in-memory fakes of its collaborators:
 * the record and outcome stores keep JSON copies (as Redis would), the starter answers from a
 * script, and the job only remembers where it was parked. `now` is injected, so every delay is exact.
 */

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const CHAIN = 'chain-unit';
const SCHEDULE = { firstDelayMs: 0, minIntervalMs: 2_000, maxIntervalMs: 60_000, ageFactor: 0.1, jitter: 0 };

type Answer = (spec: RunSpec, key: string) => StartResult | Error;

function started(spec: RunSpec, actionId: number): StartResult {
  return {
    ref: { kind: spec.kind, resourceId: spec.resourceId, actionId },
    action: { id: actionId, status: 'in-progress' } as Action,
    started: true,
    recovered: false,
  };
}

function busy(pending: boolean): ActionRejectedError {
  return new ActionRejectedError(pending ? 'droplet 1 has a pending event' : 'droplet 1 cannot do that', {
    kind: 'droplet',
    resourceId: 1,
    type: 'reboot',
    status: 422,
    pending,
    apiMessage: pending ? 'Droplet already has a pending event.' : 'nope',
  });
}

function harness(input: ChainPlanInput, options: { record?: (record: ChainRecord) => void } = {}) {
  let now = T0;
  const plan = parseChainPlan(input, (url) => url);
  const initial: ChainRecord = {
    id: CHAIN,
    fingerprint: 'f',
    createdAt: new Date(T0).toISOString(),
    plan,
    current: 0,
    ...initialStepStates(plan),
    updatedAt: new Date(T0).toISOString(),
  };
  options.record?.(initial);
  const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  let stored: ChainRecord | undefined = copy(initial);
  let outcome: ChainOutcomeRecord | undefined;
  const store = {
    get: async () => (stored === undefined ? undefined : copy(stored)),
    save: async (record: ChainRecord) => {
      stored = copy(record);
    },
  } as unknown as ChainStore;
  const outcomes = {
    get: async () => (outcome === undefined ? undefined : copy(outcome)),
    record: async (record: ChainOutcomeRecord) => {
      const created = outcome === undefined;
      outcome ??= copy(record);
      return { record: copy(outcome), created, eventId: '1-0' };
    },
  } as unknown as ChainOutcomeStore;

  const attempts: Array<{ spec: RunSpec; key: string }> = [];
  const answers: Answer[] = [];
  let nextActionId = 100;
  const creates: Array<{ spec: CreateSpec; key: string }> = [];
  let nextDropletId = 900;
  const starter = {
    attempt: async (spec: RunSpec, { key }: { key: string }) => {
      attempts.push({ spec, key });
      const answer = answers.shift()?.(spec, key) ?? started(spec, nextActionId++);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    attemptCreate: async (spec: CreateSpec, { key }: { key: string }) => {
      creates.push({ spec, key });
      const droplets = spec.names.map((name) => ({
        dropletId: nextDropletId++,
        name,
        actionId: nextActionId++,
      }));
      return { key, tag: 'actionwatch:test', droplets, started: true, recovered: false };
    },
  } as unknown as ActionStarter;

  const watched: WatchRequest[] = [];
  const watchOutcomes = new Map<string, OutcomeRecord>();
  const watchIdOf = (request: { kind: string; resourceId: number; actionId: number }) =>
    `${request.kind}-${request.resourceId}-${request.actionId}`;
  const watches = {
    watchMany: async (requests: WatchRequest[]) => {
      watched.push(...requests);
      return requests.map((request) => ({
        watch: { id: watchIdOf(request as { kind: string; resourceId: number; actionId: number }) },
        created: true,
      }));
    },
    outcomes: {
      get: async (id: string) => watchOutcomes.get(id),
      getMany: async (ids: string[]) => ids.map((id) => watchOutcomes.get(id)),
    },
  } as unknown as WatchQueue;

  const snapshots: Snapshot[] = [];
  /** What GET /v2/droplets/{id} answers, by droplet id. */
  const droplets = new Map<number, Droplet>();
  const client = {
    iterateDropletSnapshots: async function* () {
      yield* snapshots;
    },
    getDroplet: async (id: number) => droplets.get(id) ?? { id, status: 'new' },
  } as unknown as DigitalOceanClient;

  const processor = new ChainProcessor({
    store,
    outcomes,
    watches,
    starter,
    client,
    logger: pino({ level: 'silent' }),
    schedule: SCHEDULE,
    now: () => now,
  });
  const events: string[] = [];
  processor.on('step', ({ step, status }) => events.push(`${step}:${status}`));
  const tokenRejections: Error[] = [];
  processor.on('token-rejected', (error) => tokenRejections.push(error));

  const job = {
    data: { chainId: CHAIN } as ChainJobData,
    parkedAt: undefined as number | undefined,
    async moveToDelayed(timestamp: number) {
      this.parkedAt = timestamp;
    },
  };

  /** One activation: the outcome when the chain ended, else where the job was parked. */
  const run = async (): Promise<{ ended: ChainOutcomeRecord } | { parkedAt: number }> => {
    job.parkedAt = undefined;
    try {
      const ended = await processor.process(job as unknown as Job<ChainJobData>, 'token');
      if (ended === undefined) throw new Error('the chain job was dropped');
      return { ended };
    } catch (error) {
      if (!(error instanceof DelayedError)) throw error;
      if (job.parkedAt === undefined) throw new Error('DelayedError without moveToDelayed');
      return { parkedAt: job.parkedAt };
    }
  };
  const ended = async (): Promise<ChainOutcomeRecord> => {
    const result = await run();
    if (!('ended' in result)) throw new Error(`the chain was parked until ${result.parkedAt - now}ms`);
    return result.ended;
  };
  const parked = async (): Promise<number> => {
    const result = await run();
    if (!('parkedAt' in result)) throw new Error(`the chain ended ${result.ended.outcome}`);
    return result.parkedAt - now;
  };

  return {
    run,
    ended,
    parked,
    attempts,
    creates,
    droplets,
    answers,
    watched,
    snapshots,
    events,
    tokenRejections,
    record: () => stored as ChainRecord,
    outcome: () => outcome,
    setNow: (ms: number) => {
      now = ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    /** Records a chain outcome as `chains cancel` would. */
    cancel: () => {
      outcome = {
        type: 'chain.cancelled',
        outcome: 'cancelled',
        chain: { id: CHAIN, createdAt: initial.createdAt, finishedAt: new Date(now).toISOString() },
        steps: copy(stored?.steps ?? []),
        reason: 'cancelled by request',
      };
    },
    /** Ends the watch of an action with `result`, optionally with the action it saw. */
    settle: (
      kind: string,
      resourceId: number,
      actionId: number,
      result: Outcome,
      extra: { reason?: string; action?: Partial<Action> } = {},
    ) => {
      const id = watchIdOf({ kind, resourceId, actionId });
      watchOutcomes.set(id, {
        type: `action.${result}`,
        outcome: result,
        watch: { id, kind, resourceId, actionId } as OutcomeRecord['watch'],
        action: (extra.action ?? null) as Action | null,
        ...(extra.reason === undefined ? {} : { reason: extra.reason }),
      } as OutcomeRecord);
    },
  };
}

describe('ChainProcessor: steps one after another', () => {
  it('goes pending → starting → watching → completed for each step, then completes the chain', async () => {
    const h = harness({
      name: 'two-steps',
      steps: [
        { id: 'a', run: { droplet: 1, type: 'reboot' } },
        { id: 'b', run: { droplet: '${steps.a.resourceId}', type: 'power_on' } },
      ],
    });
    // First activation: a's action is started, watched, and the job parked until its next check.
    expect(await h.parked()).toBe(SCHEDULE.minIntervalMs);
    expect(h.events).toEqual(['a:starting', 'a:watching']);
    expect(h.attempts.map((attempt) => attempt.key)).toEqual([chainRunKey(CHAIN, 0, 0)]);
    expect(h.watched).toEqual([{ kind: 'droplet', resourceId: 1, actionId: 100 }]);
    expect(h.record().steps[0]).toMatchObject({ status: 'watching', runs: [{ actionId: 100 }] });

    // Nothing settled yet: another check later, no second POST.
    h.advance(2_000);
    expect(await h.parked()).toBe(2_000);
    expect(h.attempts).toHaveLength(1);

    h.advance(30_000);
    h.settle('droplet', 1, 100, 'completed');
    expect(await h.parked()).toBe(2_000);
    expect(h.events).toEqual(['a:starting', 'a:watching', 'a:completed', 'b:starting', 'b:watching']);
    expect(h.attempts[1]?.key).toBe(chainRunKey(CHAIN, 1, 0));
    expect(h.attempts[1]?.spec).toMatchObject({ kind: 'droplet', resourceId: 1, body: { type: 'power_on' } });
    expect(h.record()).toMatchObject({ current: 1 });

    h.advance(5_000);
    h.settle('droplet', 1, 101, 'completed');
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ type: 'chain.completed', outcome: 'completed' });
    expect(outcome.failedStep).toBeUndefined();
    expect(outcome.steps.map((step) => [step.id, step.status, step.runs[0]?.outcome])).toEqual([
      ['a', 'completed', 'completed'],
      ['b', 'completed', 'completed'],
    ]);
    expect(h.record()).toMatchObject({ current: 2 });
    expect(h.attempts).toHaveLength(2);
  });

  it("a run's failed outcome ends the chain with that outcome, the failed step and why", async () => {
    const h = harness({
      steps: [
        { id: 'a', run: { droplet: 1, type: 'reboot' } },
        { id: 'b', run: { droplet: 1, type: 'power_on' } },
      ],
    });
    await h.parked();
    h.settle('droplet', 1, 100, 'timed_out', { reason: 'no answer in 1h' });
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ type: 'chain.failed', outcome: 'timed_out', failedStep: 'a' });
    expect(outcome.reason).toBe('step a: droplet 1 action 100 (reboot) timed_out: no answer in 1h');
    expect(outcome.steps[0]).toMatchObject({ status: 'failed', reason: outcome.reason });
    expect(outcome.steps[1]).toMatchObject({ status: 'pending' });
    expect(h.attempts).toHaveLength(1);
  });
});

describe('ChainProcessor: when a start fails', () => {
  const oneStep = (retryPending?: string): ChainPlanInput => ({
    ...(retryPending === undefined ? {} : { retryPending }),
    steps: [{ id: 'a', run: { droplet: 1, type: 'reboot' } }],
  });

  it('a busy resource (422 pending) with retryPending waits with a doubling delay, then gives up: rejected', async () => {
    const h = harness(oneStep('5s'));
    for (let i = 0; i < 3; i++) h.answers.push(() => busy(true));
    expect(await h.parked()).toBe(1_000);
    expect(h.record().steps[0]?.runs[0]).toMatchObject({ busySince: T0, retryDelayMs: 2_000 });
    h.advance(1_000);
    expect(await h.parked()).toBe(2_000);
    h.advance(2_000);
    // Busy 3 s so far; the next wait (4 s) would pass the 5 s allowed.
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ outcome: 'rejected', failedStep: 'a' });
    expect(outcome.reason).toBe('droplet 1 has a pending event; still busy after 3 s');
    expect(h.attempts).toHaveLength(3);
  });

  it('a busy resource that frees up in time starts, and the retry bookkeeping is dropped', async () => {
    const h = harness(oneStep('1m'));
    h.answers.push(() => busy(true));
    expect(await h.parked()).toBe(1_000);
    h.advance(1_000);
    await h.parked();
    expect(h.record().steps[0]?.runs[0]).toEqual({
      kind: 'droplet',
      type: 'reboot',
      resourceId: 1,
      actionId: 100,
      watchId: 'droplet-1-100',
    });
  });

  it('a 422 without retryPending, or one that is not "busy", rejects at once', async () => {
    const busyWithout = harness(oneStep());
    busyWithout.answers.push(() => busy(true));
    expect(await busyWithout.ended()).toMatchObject({
      outcome: 'rejected',
      reason: 'droplet 1 has a pending event',
    });

    const plain = harness(oneStep('10m'));
    plain.answers.push(() => busy(false));
    expect(await plain.ended()).toMatchObject({
      outcome: 'rejected',
      failedStep: 'a',
      reason: 'droplet 1 cannot do that',
    });
    expect(plain.attempts).toHaveLength(1);
  });

  it('a start that probably landed ends the chain errored and is never sent again', async () => {
    const h = harness(oneStep());
    const error = new ActionProbablyStartedError({
      kind: 'droplet',
      resourceId: 1,
      type: 'reboot',
      what: 'reboot of droplet 1',
      answered: false,
      why: 'the connection reset',
    });
    h.answers.push(() => error);
    expect(await h.ended()).toMatchObject({ outcome: 'errored', failedStep: 'a', reason: error.message });
    // The job running again (a crash before it completed) answers from the outcome: no second POST.
    expect(await h.ended()).toMatchObject({ outcome: 'errored' });
    expect(h.attempts).toHaveLength(1);
  });

  it('an exhausted budget or a 429 waits for as long as it says (plus up to 1 s of jitter)', async () => {
    const budget = harness(oneStep());
    budget.answers.push(() => new BudgetExhaustedError(7_000, 'hourly budget'));
    const waited = await budget.parked();
    expect(waited).toBeGreaterThanOrEqual(7_000);
    expect(waited).toBeLessThanOrEqual(8_000);
    expect(budget.record().steps[0]).toMatchObject({ status: 'starting' });

    const limited = harness(oneStep());
    limited.answers.push(() => new RateLimitedError('429', 3_000, { status: 429 }));
    const paused = await limited.parked();
    expect(paused).toBeGreaterThanOrEqual(3_000);
    expect(paused).toBeLessThanOrEqual(4_000);
    // Neither ends the chain: the next activation starts the action.
    limited.advance(paused);
    await limited.parked();
    expect(limited.record().steps[0]?.runs[0]?.actionId).toBe(100);
  });

  it('a transient failure tries again in 5 s', async () => {
    const h = harness(oneStep());
    h.answers.push(() => new TransientError('502 from DigitalOcean', { status: 502 }));
    expect(await h.parked()).toBe(5_000);
    expect(h.record().steps[0]?.runs[0]?.actionId).toBeUndefined();
    h.advance(5_000);
    await h.parked();
    expect(h.attempts.map((attempt) => attempt.key)).toEqual([
      chainRunKey(CHAIN, 0, 0),
      chainRunKey(CHAIN, 0, 0),
    ]);
    expect(h.record().steps[0]?.runs[0]?.actionId).toBe(100);
  });

  it('a refused token emits token-rejected and waits 30 s for a worker with a valid one', async () => {
    const h = harness(oneStep());
    const refused = new UnauthorizedError('401 Unauthorized', { status: 401 });
    h.answers.push(() => refused);
    expect(await h.parked()).toBe(30_000);
    expect(h.tokenRejections).toEqual([refused]);
    expect(h.outcome()).toBeUndefined();
  });

  it('a reference that cannot be resolved rejects the chain before any POST of its step', async () => {
    const h = harness(
      {
        steps: [
          { id: 'snap', run: { droplet: 1, type: 'snapshot' } },
          { id: 'move', run: { image: '${steps.snap.imageId}', type: 'transfer', region: 'ams3' } },
        ],
      },
      {
        // A record whose snapshot step completed without finding its image (one that cannot happen
        // in a healthy run, but a hand-edited or older record might say so).
        record: (record) => {
          const snap = record.steps[0];
          if (snap === undefined) throw new Error('no step');
          snap.status = 'completed';
          snap.runs[0] = {
            ...snap.runs[0],
            kind: 'droplet',
            type: 'snapshot',
            actionId: 5,
            outcome: 'completed',
          };
          record.current = 1;
        },
      },
    );
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ outcome: 'rejected', failedStep: 'move' });
    expect(outcome.reason).toContain('steps.snap.imageId has no value');
    expect(h.attempts).toHaveLength(0);
  });
});

describe('ChainProcessor: cancel, snapshots and re-entry', () => {
  it('a cancel recorded while a step starts stops the chain before its next POST', async () => {
    const h = harness({
      steps: [
        {
          id: 'fan',
          run: [
            { droplet: 1, type: 'reboot' },
            { droplet: 2, type: 'reboot' },
          ],
        },
      ],
    });
    // The cancel lands while the first run's POST is in flight.
    h.answers.push((spec) => {
      h.cancel();
      return started(spec, 100);
    });
    expect(await h.ended()).toMatchObject({ outcome: 'cancelled', reason: 'cancelled by request' });
    expect(h.attempts.map((attempt) => attempt.spec.resourceId)).toEqual([1]);
    // The action that did start is recorded, so the chain shows it.
    expect(h.record().steps[0]?.runs[0]?.actionId).toBe(100);
    expect(h.watched).toEqual([]);
  });

  it('a cancel recorded while a step is watched ends the chain at its next activation, without the next step', async () => {
    const h = harness({
      steps: [
        { id: 'a', run: { droplet: 1, type: 'reboot' } },
        { id: 'b', run: { droplet: 1, type: 'power_on' } },
      ],
    });
    await h.parked();
    h.settle('droplet', 1, 100, 'completed');
    h.cancel();
    expect(await h.ended()).toMatchObject({ outcome: 'cancelled' });
    expect(h.attempts).toHaveLength(1);
  });

  const snapshotPlan: ChainPlanInput = {
    steps: [
      { id: 'snap', run: { droplet: 1, type: 'snapshot', params: { name: 'web-42' } } },
      { id: 'move', run: { image: '${steps.snap.imageId}', type: 'transfer', region: 'ams3' } },
    ],
  };
  const snapshotAction = { id: 100, started_at: new Date(T0).toISOString(), status: 'completed' };

  it("a completed snapshot step resolves its image (waiting while it isn't listed yet) for the next step", async () => {
    const h = harness(snapshotPlan);
    await h.parked();
    h.advance(60_000);
    h.settle('droplet', 1, 100, 'completed', { action: snapshotAction as Partial<Action> });
    expect(await h.parked()).toBe(2_000);
    expect(h.record().steps[0]).toMatchObject({
      status: 'resolving',
      settledAt: new Date(T0 + 60_000).toISOString(),
    });

    h.advance(2_000);
    h.snapshots.push(
      { id: 900, name: 'other', created_at: new Date(T0 + 1_000).toISOString() },
      { id: 901, name: 'web-42', created_at: new Date(T0 + 2_000).toISOString() },
    );
    await h.parked();
    expect(h.record().steps[0]).toMatchObject({ status: 'completed', runs: [{ imageId: 901 }] });
    expect(h.attempts[1]?.spec).toMatchObject({
      kind: 'image',
      resourceId: 901,
      body: { type: 'transfer', region: 'ams3' },
    });
  });

  it('a snapshot whose image is not listed within the lookup window ends the chain not_found', async () => {
    const h = harness(snapshotPlan);
    await h.parked();
    h.settle('droplet', 1, 100, 'completed', { action: snapshotAction as Partial<Action> });
    expect(await h.parked()).toBe(2_000);
    h.advance(119_000);
    expect(await h.parked()).toBe(2_000);
    h.advance(1_000);
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ outcome: 'not_found', failedStep: 'snap' });
    expect(outcome.reason).toBe(
      `step snap: no snapshot of droplet 1 matches action 100 (started ${snapshotAction.started_at})`,
    );
    expect(h.attempts).toHaveLength(1);
  });

  it('re-entry after a crash never starts a run whose action id is recorded', async () => {
    // Crashed after the POST was recorded, before the watch: only the watch is made.
    const afterPost = harness(
      {
        steps: [
          {
            id: 'a',
            run: [
              { droplet: 1, type: 'reboot' },
              { droplet: 2, type: 'reboot' },
            ],
          },
        ],
      },
      {
        record: (record) => {
          const step = record.steps[0];
          if (step === undefined) throw new Error('no step');
          step.status = 'starting';
          step.startedAt = new Date(T0).toISOString();
          step.runs[0] = { kind: 'droplet', type: 'reboot', resourceId: 1, actionId: 77 };
        },
      },
    );
    await afterPost.parked();
    expect(afterPost.attempts.map((attempt) => attempt.spec.resourceId)).toEqual([2]);
    expect(afterPost.watched.map((request) => request.actionId)).toEqual([77, 100]);
    expect(afterPost.events).toEqual(['a:watching']);

    // Crashed after the watch too, before the step was marked watching: nothing is sent again.
    const afterWatch = harness(
      { steps: [{ id: 'a', run: { droplet: 1, type: 'reboot' } }] },
      {
        record: (record) => {
          const step = record.steps[0];
          if (step === undefined) throw new Error('no step');
          step.status = 'starting';
          step.runs[0] = {
            kind: 'droplet',
            type: 'reboot',
            resourceId: 1,
            actionId: 77,
            watchId: 'droplet-1-77',
          };
        },
      },
    );
    await afterWatch.parked();
    expect(afterWatch.attempts).toEqual([]);
    expect(afterWatch.watched).toEqual([]);
    expect(afterWatch.record().steps[0]).toMatchObject({ status: 'watching' });
  });
});

describe('ChainProcessor: onFailure steps', () => {
  it('keeps the failure in the record while cleanup steps run, resumes them, and records the outcome once after', async () => {
    const h = harness({
      steps: [
        { id: 'a', run: { droplet: 1, type: 'reboot' } },
        { id: 'b', run: { droplet: 1, type: 'power_on' } },
      ],
      onFailure: [
        { id: 'undo', run: { droplet: '${steps.b.actionId}', type: 'power_on' } },
        { id: 'boot', run: { droplet: 2, type: 'power_on' } },
      ],
    });
    await h.parked();
    h.settle('droplet', 1, 100, 'errored', { reason: 'broke' });
    // `undo` refers to a step that never ran: it fails at once; `boot` starts and is watched.
    expect(await h.parked()).toBe(2_000);
    expect(h.outcome()).toBeUndefined();
    expect(h.record()).toMatchObject({
      failure: {
        outcome: 'errored',
        failedStep: 'a',
        reason: 'step a: droplet 1 action 100 (reboot) errored: broke',
      },
    });
    expect(h.record().onFailure).toMatchObject([
      { id: 'undo', status: 'failed', reason: 'step undo: steps.b.actionId has no value (step b never ran)' },
      { id: 'boot', status: 'watching', runs: [{ actionId: 101 }] },
    ]);
    expect(h.attempts.map((attempt) => attempt.key)).toEqual([
      chainRunKey(CHAIN, 0, 0),
      chainCleanupRunKey(CHAIN, 1, 0),
    ]);

    // Every later activation starts from the record: no POST is sent again.
    h.advance(2_000);
    expect(await h.parked()).toBe(2_000);
    h.settle('droplet', 2, 101, 'completed');
    const outcome = await h.ended();
    expect(outcome).toMatchObject({
      type: 'chain.failed',
      outcome: 'errored',
      failedStep: 'a',
      reason: 'step a: droplet 1 action 100 (reboot) errored: broke',
    });
    expect(outcome.steps.map((step) => step.status)).toEqual(['failed', 'pending']);
    expect(outcome.onFailure?.map((step) => step.status)).toEqual(['failed', 'completed']);
    expect(h.attempts).toHaveLength(2);
    expect(h.events).toContain('undo:failed');
  });

  it('a completed chain runs no cleanup step', async () => {
    const h = harness({
      steps: [{ id: 'a', run: { droplet: 1, type: 'reboot' } }],
      onFailure: [{ id: 'boot', run: { droplet: 2, type: 'power_on' } }],
    });
    await h.parked();
    h.settle('droplet', 1, 100, 'completed');
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ outcome: 'completed', onFailure: [{ id: 'boot', status: 'pending' }] });
    expect(h.attempts).toHaveLength(1);
  });
});

describe('ChainProcessor: create runs', () => {
  const plan = (timeout?: string): ChainPlanInput => ({
    ...(timeout === undefined ? {} : { timeout }),
    steps: [
      {
        id: 'web',
        run: {
          create: { name: 'web-1', region: 'ams3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' },
          until: 'active',
        },
      },
      { id: 'boot', run: { droplet: '${steps.web.dropletId}', type: 'reboot' } },
    ],
  });

  it('creates once under the run key, watches the create action, then waits for active and records ipv4', async () => {
    const h = harness(plan());
    await h.parked();
    expect(h.creates.map((create) => create.key)).toEqual([chainRunKey(CHAIN, 0, 0)]);
    expect(h.creates[0]?.spec.body).toEqual({
      name: 'web-1',
      region: 'ams3',
      size: 's-1vcpu-1gb',
      image: 'ubuntu-24-04-x64',
    });
    expect(h.watched).toEqual([{ kind: 'droplet', resourceId: 900, actionId: 100 }]);
    expect(h.record().steps[0]?.runs[0]).toMatchObject({ dropletId: 900, resourceId: 900, actionId: 100 });

    h.advance(60_000);
    h.settle('droplet', 900, 100, 'completed');
    // Created, not active yet: parked, not holding a worker, no second create.
    expect(await h.parked()).toBe(5_000);
    expect(h.record().steps[0]).toMatchObject({ status: 'resolving' });
    expect(h.creates).toHaveLength(1);

    h.advance(5_000);
    h.droplets.set(900, {
      id: 900,
      status: 'active',
      networks: {
        v4: [
          { ip_address: '10.0.0.5', type: 'private' },
          { ip_address: '203.0.113.50', type: 'public' },
        ],
      },
    });
    await h.parked();
    expect(h.record().steps[0]).toMatchObject({ status: 'completed', runs: [{ ipv4: '203.0.113.50' }] });
    expect(h.attempts[0]?.spec).toMatchObject({ kind: 'droplet', resourceId: 900, body: { type: 'reboot' } });
    expect(h.creates).toHaveLength(1);
  });

  it('a droplet that is not active within the step timeout fails the step timed_out', async () => {
    const h = harness(plan('2m'));
    await h.parked();
    h.advance(60_000);
    h.settle('droplet', 900, 100, 'completed');
    expect(await h.parked()).toBe(5_000);
    h.advance(55_000);
    // The wait never goes past the deadline: the last look is at it.
    expect(await h.parked()).toBe(5_000);
    h.advance(5_000);
    const outcome = await h.ended();
    expect(outcome).toMatchObject({ outcome: 'timed_out', failedStep: 'web' });
    expect(outcome.reason).toBe('step web: droplet 900 was not active within 2m (status new)');
    expect(h.attempts).toHaveLength(0);
  });
});
