import { EventEmitter } from 'node:events';
import { DelayedError, type Job } from 'bullmq';
import type { PollSchedule } from '../config/config.js';
import { classifyStatus } from '../digitalocean/models.js';
import type {
  AnswerMismatchError,
  ForbiddenError,
  UnauthorizedError,
} from '../errors/digitalocean-api-error.js';
import { decideFailure } from '../errors/failure-policy.js';
import type { Logger } from '../logging/logger.js';
import type { ActionObserver, Observation } from './action-observer.js';
import type { DeletionObserver } from './deletion-observer.js';
import type { OutcomeSink } from './outcome-sink.js';
import type { OutcomeStore } from './outcome-store.js';
import { afterBudgetWait, pollDelay, untilDeadline } from './schedule.js';
import { awaitsOf, type Outcome, type OutcomeRecord, type WatchData, waitingAction } from './watch.js';
import { describeRef, isDeletionRef } from './watch-ref.js';

/**
 * A step that runs this long or more before its planned time was promoted early (a cancel): only
 * such a step, or one never parked, reads the outcome before it polls. Steps that run on time skip
 * that read; the read after every poll still catches a cancel that raced it.
 */
const EARLY_STEP_MS = 1_000;

export type PollResult = 'in-progress' | 'completed' | 'errored' | 'unknown' | 'not_found' | 'failed';

/** The token was refused (401/403): this process must stop polling. */
export class TokenRejectedError extends Error {
  constructor(readonly apiError: UnauthorizedError | ForbiddenError) {
    super(apiError.message);
    this.name = 'TokenRejectedError';
  }
}

/** DigitalOcean (or our own budget) wants quiet for `waitMs`: the whole queue should pause. */
export class PauseQueueError extends Error {
  constructor(
    readonly waitMs: number,
    readonly reason: string,
  ) {
    super(`pausing polls for ${waitMs} ms: ${reason}`);
    this.name = 'PauseQueueError';
  }
}

export interface WatchProcessorOptions {
  observer: ActionObserver;
  /** Observes deletion watches (`droplet-<id>-deleted`); a processor without one fails them. */
  deletions?: DeletionObserver;
  outcomes: OutcomeStore;
  schedule: PollSchedule;
  logger: Logger;
  sinks?: OutcomeSink[];
  now?: () => number;
  random?: () => number;
}

export interface WatchProcessorEvents {
  poll: [{ watchId: string; result: PollResult; error?: string }];
  /** A poll's answer was about another action or resource, or malformed: a protocol fault. */
  mismatch: [{ watchId: string; fault: AnswerMismatchError['fault'] }];
  outcome: [{ record: OutcomeRecord; created: boolean }];
}

/**
 * One step of a watch (the step-job pattern): observe the action once, then either finish the job
 * with its outcome or park it as a delayed job until its next poll. Nothing sleeps in a worker
 * between polls, so waiting watches cost Redis memory and no worker slots.
 */
export class WatchProcessor extends EventEmitter<WatchProcessorEvents> {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sinks: OutcomeSink[];

  constructor(private readonly options: WatchProcessorOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.sinks = options.sinks ?? [];
  }

  async process(job: Job<WatchData, OutcomeRecord>, token: string | undefined): Promise<OutcomeRecord> {
    const id = job.id as string;
    const data = job.data;
    if (data.dueAt === undefined || this.now() < data.dueAt - EARLY_STEP_MS) {
      const recorded = await this.options.outcomes.get(id);
      if (recorded !== undefined) return this.finishRecorded(recorded);
    }

    // At the deadline we still look once more: an action that ended just in time is reported as
    // it ended, and a timed-out one carries the action as it stands, in full.
    const pastDeadline = this.now() >= data.deadlineAt;
    const deadline = new Date(data.deadlineAt).toISOString();
    const deadlineReason = () =>
      isDeletionRef(data)
        ? `droplet ${data.resourceId} still existed at the deadline ${deadline}`
        : `no terminal status before the deadline ${deadline}`;

    let observation: Observation;
    try {
      observation = await this.observe(data);
    } catch (error) {
      if (pastDeadline) return this.finish(job, 'timed_out', data, deadlineReason());
      return this.afterFailedPoll(job, token, error);
    }

    if (!observation.found && observation.retryInMs !== undefined) {
      // Not observed yet, and no request was made (a shared list sweep will look): not a poll.
      if (pastDeadline) return this.finish(job, 'timed_out', data, deadlineReason());
      return this.reschedule(job, token, data, this.untilDeadline(data, observation.retryInMs));
    }
    const polled: WatchData = { ...data, polls: data.polls + 1 };
    delete polled.lastError;
    if (!observation.found) {
      this.emit('poll', { watchId: id, result: 'not_found' });
      return this.finish(job, 'not_found', polled, observation.reason);
    }
    const action = observation.action;
    const status = action === null ? observation.status : classifyStatus(action.status);
    this.emit('poll', { watchId: id, result: status });
    if (status === 'completed' || status === 'errored') {
      return this.finish(job, status, { ...polled, action }, undefined);
    }
    if (pastDeadline) return this.finish(job, 'timed_out', { ...polled, action }, deadlineReason());
    if (status === 'unknown' && action !== null && data.warnedStatus !== action.status) {
      this.options.logger.warn(
        { watchId: id, status: action.status, action },
        `action ${action.id} reports the undocumented status "${action.status}"; treating it as not finished and polling on`,
      );
      polled.warnedStatus = action.status;
    }
    polled.action = action === null ? null : waitingAction(action);
    const delay =
      observation.action === null || observation.recheckInMs === undefined
        ? this.pollDelay(polled)
        : this.untilDeadline(polled, observation.recheckInMs);
    return this.reschedule(job, token, polled, delay);
  }

  /** One look at what the watch waits on, by the observer of its kind of ref. */
  private observe(data: WatchData): Promise<Observation> {
    if (!isDeletionRef(data)) return this.options.observer.observe(data, { watch: data });
    if (this.options.deletions === undefined)
      throw new Error('this worker cannot observe deletion watches (no deletion observer)');
    return this.options.deletions.observe(data, { watch: data });
  }

  /** `delayMs`, but waking at the deadline rather than after it. */
  private untilDeadline(data: WatchData, delayMs: number): number {
    return untilDeadline(delayMs, data.deadlineAt, this.now());
  }

  private async afterFailedPoll(
    job: Job<WatchData, OutcomeRecord>,
    token: string | undefined,
    error: unknown,
  ) {
    const id = job.id as string;
    const data = job.data;
    const { failure, response } = decideFailure(error, 'poll');
    switch (response) {
      case 'wait':
        if (failure.kind !== 'budget_exhausted') break;
        // No request was made: not a poll. Come back when the budget allows, spread a little.
        if (failure.error.waitMs > 5_000)
          throw new PauseQueueError(failure.error.waitMs, failure.error.reason);
        return this.reschedule(job, token, data, afterBudgetWait(failure.error.waitMs, this.random));
      case 'pause':
        if (failure.kind !== 'rate_limited') break;
        this.emit('poll', { watchId: id, result: 'failed', error: failure.error.message });
        throw new PauseQueueError(failure.error.waitMs, failure.error.message);
      case 'token-refused':
        if (failure.kind !== 'unauthorized' && failure.kind !== 'forbidden') break;
        this.emit('poll', { watchId: id, result: 'failed', error: failure.error.message });
        throw new TokenRejectedError(failure.error);
      case 'retry': {
        if (failure.kind === 'answer_mismatch') return this.afterMismatch(job, token, failure.error);
        if (failure.kind !== 'transient' && failure.kind !== 'client_error') break;
        // A watch never dies of a failed poll: it is simply tried again at the next poll time.
        this.emit('poll', { watchId: id, result: 'failed', error: failure.error.message });
        this.options.logger.warn(
          { watchId: id, err: failure.error.message, kind: failure.error.kind },
          'poll failed; will try again',
        );
        const next = this.failedPoll(data, failure.error);
        return this.reschedule(job, token, next, this.pollDelay(next));
      }
      case 'fail':
      case 'throw':
        break;
    }
    throw error;
  }

  /**
   * Never this watch's state, and no outcome: a protocol fault of this poll, tried again at the
   * next poll time like any transient failure, and told once per watch (both ids named).
   */
  private async afterMismatch(
    job: Job<WatchData, OutcomeRecord>,
    token: string | undefined,
    error: AnswerMismatchError,
  ) {
    const id = job.id as string;
    const data = job.data;
    this.emit('poll', { watchId: id, result: 'failed', error: error.message });
    this.emit('mismatch', { watchId: id, fault: error.fault });
    const next = this.failedPoll(data, error);
    const details = {
      watchId: id,
      actionId: data.actionId,
      answeredId: error.answeredId,
      fault: error.fault,
    };
    const text = `watch ${id}: DigitalOcean answered about action ${String(error.answeredId)} when asked about action ${data.actionId} (${error.message}); not taken, polling on`;
    if (data.mismatchLogged) this.options.logger.debug(details, text);
    else this.options.logger.warn(details, text);
    next.mismatchLogged = true;
    return this.reschedule(job, token, next, this.pollDelay(next));
  }

  /** The watch after a poll that failed: counted, with the error kept for `show`. */
  private failedPoll(data: WatchData, error: Error): WatchData {
    return { ...data, polls: data.polls + 1, lastError: error.message };
  }

  private pollDelay(data: WatchData): number {
    return pollDelay(this.options.schedule, data, this.now(), this.random);
  }

  private async reschedule(
    job: Job<WatchData, OutcomeRecord>,
    token: string | undefined,
    data: WatchData,
    delayMs: number,
  ): Promise<never> {
    const now = this.now();
    const dueAt = now + Math.round(delayMs);
    await job.updateData({ ...data, dueAt });
    // A cancel that landed during this poll must not wait for the next one. The step it wakes at
    // once reads the outcome first: it is left unparked (no dueAt), since with a delay under
    // EARLY_STEP_MS it would not run early enough before dueAt to count as early, and would poll
    // (and wake itself) again and again.
    const recorded = await this.options.outcomes.get(job.id as string);
    if (recorded !== undefined) {
      const unparked = { ...data };
      delete unparked.dueAt;
      await job.updateData(unparked);
    }
    await job.moveToDelayed(recorded === undefined ? dueAt : now, token);
    throw new DelayedError();
  }

  private async finish(
    job: Job<WatchData, OutcomeRecord>,
    outcome: Outcome,
    data: WatchData,
    reason: string | undefined,
  ): Promise<OutcomeRecord> {
    const { record, created } = await this.options.outcomes.record({
      type: `action.${outcome}`,
      outcome,
      watch: {
        id: job.id as string,
        kind: data.kind,
        resourceId: data.resourceId,
        actionId: data.actionId,
        ...awaitsOf(data),
        enqueuedAt: data.enqueuedAt,
        finishedAt: new Date(this.now()).toISOString(),
        polls: data.polls,
        ...(data.tokenProfile === undefined ? {} : { tokenProfile: data.tokenProfile }),
      },
      action: data.action,
      ...(reason === undefined ? {} : { reason }),
      ...(data.webhooks === undefined ? {} : { webhooks: data.webhooks }),
    });
    if (created) this.logOutcome(record);
    this.emit('outcome', { record, created });
    return this.finishRecorded(record);
  }

  /** Runs every sink (idempotent) before the job may complete, then returns the job's result. */
  private async finishRecorded(record: OutcomeRecord): Promise<OutcomeRecord> {
    for (const sink of this.sinks) await sink.accept(record);
    return record;
  }

  private logOutcome(record: OutcomeRecord): void {
    const { watch, action, outcome, reason } = record;
    const details = {
      watchId: watch.id,
      outcome,
      kind: watch.kind,
      resourceId: watch.resourceId,
      actionId: watch.actionId,
    };
    const type = watch.actionId === null ? '' : ` (${action?.type ?? 'unknown type'})`;
    const text = `${describeRef(watch)}${type} ${outcome}`;
    if (outcome === 'errored' || outcome === 'timed_out') {
      this.options.logger.warn({ ...details, action, reason, alert: true }, text);
    } else if (outcome === 'not_found') {
      this.options.logger.warn({ ...details, reason }, text);
    } else {
      this.options.logger.info({ ...details, polls: watch.polls }, text);
    }
  }
}
