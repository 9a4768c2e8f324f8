import { EventEmitter } from 'node:events';
import { DelayedError, type Job } from 'bullmq';
import type { PollSchedule } from '../config/config.js';
import { formatDuration } from '../config/duration.js';
import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Droplet, ResourceId, RunKind } from '../digitalocean/models.js';
import type { ActionRejectedError } from '../errors/action-rejected-error.js';
import type { ForbiddenError, UnauthorizedError } from '../errors/digitalocean-api-error.js';
import { decideFailure } from '../errors/failure-policy.js';
import { InputError } from '../errors/input-error.js';
import type { Logger } from '../logging/logger.js';
import type { ActionStarter } from '../runs/action-starter.js';
import { describeCreate } from '../runs/droplet-create.js';
import { describeRun, type RunSpec } from '../runs/run-request.js';
import { chainCheckDelay } from '../watches/schedule.js';
import type { WatchQueue, WatchRequest } from '../watches/watch-queue.js';
import { parseDeletionRef } from '../watches/watch-ref.js';
import {
  type ChainFailure,
  type ChainOutcome,
  type ChainOutcomeRecord,
  type ChainRecord,
  chainEventType,
  isStepDone,
  type RunState,
  type StepState,
} from './chain.js';
import { chainCleanupRunKey, chainRunKey } from './chain-keys.js';
import type { ChainOutcomeStore } from './chain-outcome-store.js';
import {
  type ChainStepPlan,
  isCreateTemplate,
  isDeleteTemplate,
  type RunTemplate,
  waitsForActive,
} from './chain-plan.js';
import type { ChainJobData } from './chain-queue.js';
import type { ChainOutcomeSink } from './chain-sink.js';
import type { ChainStore } from './chain-store.js';
import { resolveCreate, resolveDeletedDroplet, resolveRun, snapshotNameOf } from './run-template.js';
import { findSnapshotImage, SNAPSHOT_LOOKUP_MS, SNAPSHOT_LOOKUP_RETRY_MS } from './snapshot-image.js';

export interface ChainProcessorOptions {
  store: ChainStore;
  outcomes: ChainOutcomeStore;
  watches: WatchQueue;
  starter: ActionStarter;
  client: DigitalOceanClient;
  logger: Logger;
  /** The watches' poll schedule: a step re-checks its watches' outcomes no faster than its minimum. */
  schedule: PollSchedule;
  sinks?: ChainOutcomeSink[];
  /** WATCH_TIMEOUT: how long a create waits for its droplet to be active when no timeout is set. */
  defaultTimeoutMs?: number;
  now?: () => number;
}

/** What a start is about, for its errors and logs: the resource (none yet for a create) in words. */
interface Subject {
  kind: RunKind;
  resourceId: ResourceId | null;
  what: string;
}

/** A run resolved: what it acts on (for failures), and its start under a run key. */
interface ResolvedRun {
  subject: Subject;
  /** Starts it, writing what it made into the run; the details and words for the log. */
  start(key: string): Promise<{ details: Record<string, unknown>; text: string }>;
}

/** Resolves a run's references (InputError when one has no value), noting its resource on it. */
type RunStart = (run: RunState) => ResolvedRun;

/** Used when neither the plan nor the processor's options set a timeout (WATCH_TIMEOUT's default). */
const FALLBACK_TIMEOUT_MS = 6 * 3_600_000;

export interface ChainProcessorEvents {
  step: [{ chainId: string; step: string; status: StepState['status'] }];
  outcome: [{ record: ChainOutcomeRecord; created: boolean }];
  /** DigitalOcean refused the token (401/403); the chain waits for a worker with a valid one. */
  'token-rejected': [UnauthorizedError | ForbiddenError];
}

const MAX_BUSY_DELAY_MS = 30_000;

/** What a step (or one of its phases) comes to in one activation. */
type StepResult =
  | { next: 'done' }
  | { next: 'wait'; untilMs: number }
  | { next: 'fail'; outcome: ChainOutcome; reason: string }
  | { next: 'cancelled' };

type StartResult = Exclude<StepResult, { next: 'done' }> | { next: 'watch' };

/** A step of the chain (main or cleanup), its plan, and the idempotency keys of its runs. */
interface StepAt {
  state: StepState;
  plan: ChainStepPlan;
  runKey: (position: number) => string;
}

/**
 * One step of a chain job (the step-job pattern, as for watches): start the current step's actions
 * (idempotent per chain, step and run), enqueue their watches, then park the job as delayed until
 * it looks at their outcomes again; a chain never holds a worker while its actions run. Every
 * activation starts from the record in Redis, so a worker killed at any point leaves a job that
 * the next worker continues where it stopped, without starting any action twice. A failed chain
 * whose plan has `onFailure` steps runs them the same way (see `fail`) before its outcome is recorded.
 */
export class ChainProcessor extends EventEmitter<ChainProcessorEvents> {
  private readonly now: () => number;

  constructor(private readonly options: ChainProcessorOptions) {
    super();
    this.now = options.now ?? Date.now;
  }

  async process(job: Job<ChainJobData>, token: string | undefined): Promise<ChainOutcomeRecord | undefined> {
    const chainId = job.data.chainId;
    const record = await this.options.store.get(chainId);
    const recorded = await this.options.outcomes.get(chainId);
    if (recorded !== undefined) {
      if (record !== undefined) await this.options.store.save(record, { finished: true });
      return this.finishRecorded(recorded);
    }
    if (record === undefined) {
      this.options.logger.error({ chainId }, 'chain record is gone (expired?); dropping its job');
      return undefined;
    }
    if (record.failure !== undefined) return this.cleanUp(job, token, record, record.failure);

    for (;;) {
      const index = record.current;
      const step = record.steps[index];
      if (step === undefined) return this.finish(record, 'completed');
      const plan = record.plan.steps[index];
      if (plan === undefined) throw new Error(`chain ${record.id} has no plan for step ${index}`);
      const result = await this.advance(record, {
        state: step,
        plan,
        runKey: (position) => chainRunKey(record.id, index, position),
      });
      switch (result.next) {
        case 'done':
          record.current += 1;
          break;
        case 'wait':
          return this.delay(job, token, record, result.untilMs);
        case 'cancelled':
          return this.process(job, token);
        case 'fail':
          return this.fail(job, token, record, step, result.outcome, result.reason);
      }
    }
  }

  /**
   * Moves one step (main or cleanup) on as far as it goes in this activation: to its end
   * (`done`), a failure, or a time to look again.
   */
  private async advance(record: ChainRecord, at: StepAt): Promise<StepResult> {
    const step = at.state;
    const chainId = record.id;
    for (;;) {
      switch (step.status) {
        case 'pending':
        case 'starting': {
          if (step.status === 'pending') {
            step.status = 'starting';
            step.startedAt = new Date(this.now()).toISOString();
            this.emit('step', { chainId, step: step.id, status: step.status });
          }
          const started = await this.startRuns(record, at);
          if (started.next !== 'watch') return started;
          step.status = 'watching';
          await this.options.store.save(record);
          this.emit('step', { chainId, step: step.id, status: step.status });
          break;
        }
        case 'watching': {
          const settled = await this.readOutcomes(step);
          const failed = step.runs.find((run) => run.outcome !== undefined && run.outcome !== 'completed');
          if (failed?.outcome !== undefined)
            return {
              next: 'fail',
              outcome: failed.outcome,
              reason: await this.describeFailure(step, failed),
            };
          if (!settled) return { next: 'wait', untilMs: this.now() + this.checkDelay(step) };
          step.settledAt = new Date(this.now()).toISOString();
          if (step.runs.some(isSnapshot) || at.plan.runs.some(waitsForActive)) step.status = 'resolving';
          else this.completeStep(step);
          await this.options.store.save(record);
          this.emit('step', { chainId, step: step.id, status: step.status });
          break;
        }
        case 'resolving': {
          const resolved = await this.resolveSnapshots(record, at);
          if (resolved.next !== 'done') return resolved;
          const active = await this.resolveActive(record, at);
          if (active.next !== 'done') return active;
          this.completeStep(step);
          await this.options.store.save(record);
          this.emit('step', { chainId, step: step.id, status: step.status });
          break;
        }
        case 'completed':
          return { next: 'done' };
        case 'failed':
          return { next: 'fail', outcome: 'errored', reason: step.reason ?? `step ${step.id} failed` };
      }
    }
  }

  /**
   * A step failed: the chain ends with `outcome`, after its cleanup steps when it has any (never
   * for a cancel). The failure is saved with the record before any cleanup step starts, so a
   * worker that dies during the cleanup leaves a chain the next one cleans up and ends the same way.
   */
  private async fail(
    job: Job<ChainJobData>,
    token: string | undefined,
    record: ChainRecord,
    step: StepState,
    outcome: ChainOutcome,
    reason: string,
  ): Promise<ChainOutcomeRecord> {
    this.markFailed(step, reason);
    if (outcome === 'completed' || outcome === 'cancelled' || (record.onFailure ?? []).length === 0)
      return this.finish(record, outcome, step.id, reason);
    record.failure = { outcome, failedStep: step.id, reason };
    await this.options.store.save(record);
    this.options.logger.warn(
      { chainId: record.id, outcome, failedStep: step.id },
      `chain ${record.id} ${outcome} at step ${step.id}; running its ${record.onFailure?.length} onFailure steps`,
    );
    return this.cleanUp(job, token, record, record.failure);
  }

  /**
   * Runs the cleanup steps in order, each to its end; a cleanup step that fails is recorded and
   * the next one still runs (a cleanup does what it can). Then the chain ends with its failure.
   */
  private async cleanUp(
    job: Job<ChainJobData>,
    token: string | undefined,
    record: ChainRecord,
    failure: ChainFailure,
  ): Promise<ChainOutcomeRecord> {
    const steps = record.onFailure ?? [];
    for (const [index, step] of steps.entries()) {
      if (isStepDone(step)) continue;
      const plan = record.plan.onFailure?.[index];
      if (plan === undefined) throw new Error(`chain ${record.id} has no plan for onFailure step ${index}`);
      const result = await this.advance(record, {
        state: step,
        plan,
        runKey: (position) => chainCleanupRunKey(record.id, index, position),
      });
      if (result.next === 'wait') return this.delay(job, token, record, result.untilMs);
      if (result.next === 'cancelled') return this.process(job, token) as Promise<ChainOutcomeRecord>;
      if (result.next === 'fail') {
        this.markFailed(step, result.reason);
        await this.options.store.save(record);
        this.options.logger.warn(
          { chainId: record.id, step: step.id, alert: true },
          `chain ${record.id}: onFailure step ${step.id} failed: ${result.reason}`,
        );
        this.emit('step', { chainId: record.id, step: step.id, status: step.status });
      }
    }
    return this.finish(record, failure.outcome, failure.failedStep, failure.reason);
  }

  /** Starts every run of the step that has no action yet, then makes sure each is watched. */
  private async startRuns(record: ChainRecord, at: StepAt): Promise<StartResult> {
    const { state: step, plan } = at;
    for (const [position, run] of step.runs.entries()) {
      if (run.actionId !== undefined || run.deleteSent === true) continue;
      // A cancel must stop the chain before its next POST, not after.
      if ((await this.options.outcomes.get(record.id)) !== undefined) return { next: 'cancelled' };
      const where = `step ${step.id}${step.runs.length > 1 ? ` run ${position}` : ''}`;
      const template = plan.runs[position];
      if (template === undefined) throw new Error(`chain ${record.id} has no plan for ${where}`);
      const started = await this.startRun(record, at, position, this.runStartOf(template, record, where));
      if (started !== undefined) return started;
    }
    await this.watchRuns(record, at);
    return { next: 'watch' };
  }

  /** How a run of this template is resolved and started: an action, a droplet create or a delete. */
  private runStartOf(template: RunTemplate, record: ChainRecord, where: string): RunStart {
    const steps = stepStatesOf(record);
    const { starter } = this.options;
    if (isCreateTemplate(template))
      return (run) => {
        const spec = resolveCreate(template, steps, where);
        return {
          subject: { kind: 'droplet', resourceId: null, what: describeCreate(spec) },
          start: async (key) => {
            const created = await starter.attemptCreate(spec, { key });
            const droplet = created.droplets[0];
            if (droplet === undefined)
              throw new Error(`chain ${record.id}: ${where}: the create made no droplet`);
            run.dropletId = droplet.dropletId;
            run.resourceId = droplet.dropletId;
            run.actionId = droplet.actionId;
            return {
              details: {
                dropletId: droplet.dropletId,
                actionId: droplet.actionId,
                recovered: created.recovered,
              },
              text: `${describeCreate(spec)}: droplet ${droplet.dropletId} (action ${droplet.actionId})`,
            };
          },
        };
      };
    if (isDeleteTemplate(template))
      return (run) => {
        const dropletId = resolveDeletedDroplet(template, steps, where);
        run.resourceId = dropletId;
        return {
          subject: { kind: 'droplet', resourceId: dropletId, what: `delete of droplet ${dropletId}` },
          start: async (key) => {
            const deleted = await starter.attemptDelete(dropletId, { key });
            run.deleteSent = true;
            return {
              details: { dropletId, alreadyGone: deleted.alreadyGone },
              text: deleted.alreadyGone
                ? `droplet ${dropletId} was already gone`
                : `deleting droplet ${dropletId}`,
            };
          },
        };
      };
    return (run) => {
      const spec = resolveRun(template, steps, where);
      run.resourceId = spec.resourceId;
      return {
        subject: subjectOf(spec),
        start: async (key) => {
          const started = await starter.attempt(spec, { key });
          run.actionId = started.ref.actionId;
          return {
            details: { actionId: run.actionId, recovered: started.recovered },
            text: `started the ${describeRun(spec)} (action ${run.actionId})`,
          };
        },
      };
    };
  }

  /**
   * Resolves the run's references and starts it, once per run key (a start whose answer was lost
   * is found again or left to its watch, never sent twice); undefined once started, else what the
   * step does instead (fail on a reference that cannot be resolved, wait, retry).
   */
  private async startRun(
    record: ChainRecord,
    at: StepAt,
    position: number,
    runStart: RunStart,
  ): Promise<StartResult | undefined> {
    const run = at.state.runs[position] as RunState;
    let resolved: ResolvedRun;
    try {
      resolved = runStart(run);
    } catch (error) {
      if (error instanceof InputError) return { next: 'fail', outcome: 'rejected', reason: error.message };
      throw error;
    }
    try {
      const { details, text } = await resolved.start(at.runKey(position));
      delete run.busySince;
      delete run.retryDelayMs;
      await this.options.store.save(record);
      this.options.logger.info(
        { chainId: record.id, step: at.state.id, ...details },
        `chain ${record.id}: ${text}`,
      );
      return undefined;
    } catch (error) {
      const retryPendingMs = at.plan.retryPendingMs ?? record.plan.retryPendingMs;
      const after = this.afterFailedStart(record, run, resolved.subject, error, retryPendingMs);
      if (after.next === 'wait') await this.options.store.save(record);
      return after;
    }
  }

  private afterFailedStart(
    record: ChainRecord,
    run: RunState,
    spec: Subject,
    error: unknown,
    retryPendingMs: number | undefined,
  ): StartResult {
    const now = this.now();
    const { failure, response } = decideFailure(error, 'start');
    switch (response) {
      case 'fail':
        if (failure.kind === 'action_rejected')
          return this.afterRejection(record, run, spec, failure.error, retryPendingMs);
        if (failure.kind === 'action_probably_started') {
          // Never started twice: the chain stops (an alert) rather than send the POST again.
          this.options.logger.error(
            { chainId: record.id, ...failure.error.details },
            `chain ${record.id}: ${failure.error.message}`,
          );
          return { next: 'fail', outcome: 'errored', reason: failure.error.message };
        }
        if (failure.kind === 'not_found')
          return {
            next: 'fail',
            outcome: 'not_found',
            reason: `${spec.what}: ${failure.error.message}`,
          };
        break;
      case 'wait':
        if (failure.kind === 'run_key_busy')
          return { next: 'wait', untilMs: Math.max(failure.error.expiresAt, now + 200) };
        if (failure.kind === 'budget_exhausted' || failure.kind === 'rate_limited')
          return { next: 'wait', untilMs: now + failure.error.waitMs + Math.random() * 1_000 };
        break;
      case 'retry':
        if (failure.kind !== 'transient' && failure.kind !== 'answer_mismatch') break;
        this.options.logger.warn(
          { chainId: record.id, err: failure.error.message },
          `chain ${record.id}: starting the ${spec.what} failed for now; trying again`,
        );
        return { next: 'wait', untilMs: now + 5_000 };
      case 'token-refused':
        if (failure.kind !== 'unauthorized' && failure.kind !== 'forbidden') break;
        this.options.logger.error(
          { chainId: record.id, err: failure.error.message },
          'DigitalOcean refused the token: the chain waits for a worker with a valid DIGITALOCEAN_TOKEN',
        );
        this.emit('token-rejected', failure.error);
        return { next: 'wait', untilMs: now + 30_000 };
      case 'pause':
      case 'throw':
        break;
    }
    throw error;
  }

  /** DigitalOcean refused the start: a busy resource is tried again while `retryPending` allows. */
  private afterRejection(
    record: ChainRecord,
    run: RunState,
    spec: Subject,
    error: ActionRejectedError,
    retryPendingMs: number | undefined,
  ): StartResult {
    const now = this.now();
    if (error.pending && retryPendingMs !== undefined) {
      run.busySince ??= now;
      const delay = run.retryDelayMs ?? 1_000;
      if (now - run.busySince + delay <= retryPendingMs) {
        run.retryDelayMs = Math.min(delay * 2, MAX_BUSY_DELAY_MS);
        this.options.logger.info(
          { chainId: record.id, kind: spec.kind, resourceId: spec.resourceId, retryInMs: delay },
          `chain ${record.id}: ${spec.kind} ${spec.resourceId} is busy; trying again in ${delay} ms`,
        );
        return { next: 'wait', untilMs: now + delay };
      }
      const waited = Math.round((now - run.busySince) / 1000);
      return {
        next: 'fail',
        outcome: 'rejected',
        reason: `${error.message}; still busy after ${waited} s`,
      };
    }
    return { next: 'fail', outcome: 'rejected', reason: error.message };
  }

  private async watchRuns(record: ChainRecord, at: StepAt): Promise<void> {
    const { state: step, plan } = at;
    // Only runs never watched: watching a timed-out action again would re-arm its watch.
    const unwatched = step.runs.filter((run) => run.watchId === undefined);
    if (unwatched.length === 0) return;
    const timeoutMs = plan.timeoutMs ?? record.plan.timeoutMs;
    const webhooks = record.plan.webhooks;
    const results = await this.options.watches.watchMany(
      unwatched.map(
        (run): WatchRequest => ({
          ...(run.deleteSent === true
            ? parseDeletionRef(run.resourceId)
            : { kind: run.kind, resourceId: run.resourceId as ResourceId, actionId: run.actionId as number }),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          ...(webhooks === undefined ? {} : { webhooks }),
        }),
      ),
    );
    for (const [position, run] of unwatched.entries()) run.watchId = results[position]?.watch.id;
    await this.options.store.save(record);
  }

  /** Copies the runs' outcomes into the record; true once every run has one. */
  private async readOutcomes(step: StepState): Promise<boolean> {
    const pending = step.runs.filter((run) => run.outcome === undefined);
    const outcomes = await this.options.watches.outcomes.getMany(pending.map((run) => run.watchId as string));
    for (const [position, run] of pending.entries()) {
      const outcome = outcomes[position];
      if (outcome !== undefined) run.outcome = outcome.outcome;
    }
    return step.runs.every((run) => run.outcome !== undefined);
  }

  private async describeFailure(step: StepState, run: RunState): Promise<string> {
    const outcome = await this.options.watches.outcomes.get(run.watchId as string);
    const why = outcome?.reason === undefined ? '' : `: ${outcome.reason}`;
    const what =
      run.deleteSent === true
        ? `deletion of droplet ${run.resourceId}`
        : `${run.kind} ${run.resourceId} action ${run.actionId} (${run.type})`;
    return `step ${step.id}: ${what} ${run.outcome}${why}`;
  }

  /** Finds the image each completed snapshot run made, so later steps can refer to it. */
  private async resolveSnapshots(
    record: ChainRecord,
    at: StepAt,
  ): Promise<Exclude<StepResult, { next: 'cancelled' }>> {
    const { state: step, plan } = at;
    const now = this.now();
    for (const [position, run] of step.runs.entries()) {
      if (!isSnapshot(run) || run.imageId !== undefined) continue;
      const outcome = await this.options.watches.outcomes.get(run.watchId as string);
      const template = plan.runs[position];
      const name =
        template === undefined || isCreateTemplate(template)
          ? undefined
          : snapshotNameOf(resolveRun(template, stepStatesOf(record), step.id));
      try {
        const snapshot =
          outcome?.action == null
            ? undefined
            : await findSnapshotImage(this.options.client, run.resourceId as number, outcome.action, name);
        if (snapshot !== undefined) {
          run.imageId = snapshot.id;
          this.options.logger.info(
            { chainId: record.id, step: step.id, dropletId: run.resourceId, imageId: snapshot.id },
            `chain ${record.id}: droplet ${run.resourceId} snapshot is image ${snapshot.id}`,
          );
          continue;
        }
      } catch (error) {
        // A lookup that failed for now is tried again below, like one that found nothing yet.
        if (decideFailure(error, 'lookup').response !== 'retry') throw error;
      }
      step.settledAt ??= new Date(now).toISOString();
      if (now - Date.parse(step.settledAt) >= SNAPSHOT_LOOKUP_MS) {
        return {
          next: 'fail',
          outcome: 'not_found',
          reason: `step ${step.id}: no snapshot of droplet ${run.resourceId} matches action ${run.actionId} (started ${outcome?.action?.started_at ?? 'unknown'})`,
        };
      }
      await this.options.store.save(record);
      return { next: 'wait', untilMs: now + SNAPSHOT_LOOKUP_RETRY_MS };
    }
    return { next: 'done' };
  }

  /**
   * Waits (without holding a worker) until each `until: active` create's droplet is active, then
   * records its public IPv4. A droplet still not active at the step's timeout fails it (timed_out).
   */
  private async resolveActive(
    record: ChainRecord,
    at: StepAt,
  ): Promise<Exclude<StepResult, { next: 'cancelled' }>> {
    const { state: step, plan } = at;
    const now = this.now();
    for (const [position, run] of step.runs.entries()) {
      if (!waitsForActive(plan.runs[position]) || run.activeAt !== undefined) continue;
      const dropletId = run.dropletId as number;
      let status: string | undefined;
      try {
        const droplet = await this.options.client.getDroplet(dropletId);
        status = droplet.status;
        if (status === 'active') {
          const ipv4 = publicIpv4Of(droplet);
          run.activeAt = new Date(now).toISOString();
          if (ipv4 !== undefined) run.ipv4 = ipv4;
          await this.options.store.save(record);
          this.options.logger.info(
            { chainId: record.id, step: step.id, dropletId, ipv4 },
            `chain ${record.id}: droplet ${dropletId} is active${ipv4 === undefined ? '' : ` at ${ipv4}`}`,
          );
          continue;
        }
      } catch (error) {
        const { failure, response } = decideFailure(error, 'lookup');
        if (failure.kind === 'not_found')
          return {
            next: 'fail',
            outcome: 'not_found',
            reason: `step ${step.id}: droplet ${dropletId} is gone`,
          };
        // A lookup that failed for now is tried again below, like a droplet not active yet.
        if (response !== 'retry') throw error;
      }
      const timeoutMs =
        plan.timeoutMs ?? record.plan.timeoutMs ?? this.options.defaultTimeoutMs ?? FALLBACK_TIMEOUT_MS;
      const deadline =
        Date.parse(step.startedAt ?? step.settledAt ?? new Date(now).toISOString()) + timeoutMs;
      if (now >= deadline)
        return {
          next: 'fail',
          outcome: 'timed_out',
          reason: `step ${step.id}: droplet ${dropletId} was not active within ${formatDuration(timeoutMs)} (status ${status ?? 'unknown'})`,
        };
      await this.options.store.save(record);
      return { next: 'wait', untilMs: Math.min(deadline, now + this.checkDelay(step)) };
    }
    return { next: 'done' };
  }

  private completeStep(step: StepState): void {
    step.status = 'completed';
    step.finishedAt = new Date(this.now()).toISOString();
  }

  private markFailed(step: StepState, reason: string): void {
    step.status = 'failed';
    step.finishedAt = new Date(this.now()).toISOString();
    step.reason = reason;
  }

  /** Waits on a step without holding a worker: the job becomes delayed until `untilMs`. */
  private async delay(
    job: Job<ChainJobData>,
    token: string | undefined,
    record: ChainRecord,
    untilMs: number,
  ): Promise<never> {
    await this.options.store.save(record);
    // A cancel that landed during this step must not wait for the next check.
    const cancelled = (await this.options.outcomes.get(record.id)) !== undefined;
    await job.moveToDelayed(cancelled ? this.now() : Math.round(untilMs), token);
    throw new DelayedError();
  }

  /** Re-check often at first, then less: a chain waits on actions that take seconds to hours. */
  private checkDelay(step: StepState): number {
    return chainCheckDelay(this.options.schedule, step.startedAt, this.now());
  }

  /** Records the chain's one outcome (and its event): after its last step, or its cleanup steps. */
  private async finish(
    record: ChainRecord,
    outcome: ChainOutcome,
    failedStep?: string,
    reason?: string,
  ): Promise<ChainOutcomeRecord> {
    const { record: stored, created } = await this.options.outcomes.record({
      type: chainEventType(outcome),
      outcome,
      chain: {
        id: record.id,
        ...(record.plan.name === undefined ? {} : { name: record.plan.name }),
        createdAt: record.createdAt,
        finishedAt: new Date(this.now()).toISOString(),
      },
      steps: record.steps,
      ...(failedStep === undefined ? {} : { failedStep }),
      ...(reason === undefined ? {} : { reason }),
      ...(record.onFailure === undefined ? {} : { onFailure: record.onFailure }),
      ...(record.plan.webhooks === undefined ? {} : { webhooks: record.plan.webhooks }),
    });
    await this.options.store.save(record, { finished: true });
    if (created) this.logOutcome(stored);
    this.emit('outcome', { record: stored, created });
    return this.finishRecorded(stored);
  }

  private async finishRecorded(record: ChainOutcomeRecord): Promise<ChainOutcomeRecord> {
    for (const sink of this.options.sinks ?? []) await sink.accept(record);
    return record;
  }

  private logOutcome(record: ChainOutcomeRecord): void {
    const name = record.chain.name === undefined ? '' : ` (${record.chain.name})`;
    const text = `chain ${record.chain.id}${name} ${record.outcome}${record.reason === undefined ? '' : `: ${record.reason}`}`;
    const details = { chainId: record.chain.id, outcome: record.outcome, failedStep: record.failedStep };
    if (record.outcome === 'completed' || record.outcome === 'cancelled')
      this.options.logger.info(details, text);
    else this.options.logger.warn({ ...details, alert: true }, text);
  }
}

/** Every step a reference may name: the main steps and the cleanup steps (ids are unique). */
function stepStatesOf(record: ChainRecord): StepState[] {
  return [...record.steps, ...(record.onFailure ?? [])];
}

function subjectOf(spec: RunSpec): Subject {
  return { kind: spec.kind, resourceId: spec.resourceId, what: describeRun(spec) };
}

/** The droplet's public IPv4 address (`networks.v4`, type public), when it has one. */
function publicIpv4Of(droplet: Droplet): string | undefined {
  return droplet.networks?.v4?.find((network) => network.type === 'public')?.ip_address;
}

function isSnapshot(run: RunState): boolean {
  return run.kind === 'droplet' && run.type === 'snapshot';
}
