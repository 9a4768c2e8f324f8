import { type Job, type JobsOptions, type JobType, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { InputError } from '../errors/input-error.js';
import { WATCH_QUEUE } from './keys.js';
import { OutcomeStore } from './outcome-store.js';
import {
  type Outcome,
  type OutcomeRecord,
  type Watch,
  type WatchData,
  type WatchWebhook,
  watchFrom,
} from './watch.js';
import { type ActionRef, watchIdOf } from './watch-ref.js';

export interface WatchRequest extends ActionRef {
  /** Deadline after which the watch ends as `timed_out`. Defaults to the configured WATCH_TIMEOUT. */
  timeoutMs?: number;
  webhooks?: WatchWebhook[];
}

export interface WatchQueueOptions {
  prefix: string;
  defaultTimeoutMs: number;
  retentionMs: number;
  firstPollDelayMs: number;
  eventsMaxLength: number;
}

export interface WatchResult {
  watch: Watch;
  /** False when the action was already watched and this request joined that watch. */
  created: boolean;
}

export type WatchStateFilter = 'waiting' | 'done' | 'all';

export interface ListOptions {
  state?: WatchStateFilter;
  kind?: ActionRef['kind'];
  limit?: number;
  /** Opaque; from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface WatchPage {
  watches: Watch[];
  nextCursor: string | undefined;
}

const WAITING_TYPES: JobType[] = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'];
const DONE_TYPES: JobType[] = ['completed', 'failed'];
/** Outcomes after which watching the same action again starts a fresh watch instead of joining. */
const REWATCHABLE: Outcome[] = ['timed_out', 'cancelled'];

/**
 * The producer side of watches: enqueue, look up, list, cancel. Any number of processes may use
 * one concurrently; the job id derived from the action makes enqueueing idempotent.
 */
export class WatchQueue {
  readonly queue: Queue<WatchData, OutcomeRecord>;
  readonly outcomes: OutcomeStore;

  constructor(
    readonly redis: Redis,
    private readonly options: WatchQueueOptions,
  ) {
    this.queue = new Queue<WatchData, OutcomeRecord>(WATCH_QUEUE, {
      connection: redis,
      prefix: options.prefix,
    });
    this.outcomes = new OutcomeStore(redis, {
      prefix: options.prefix,
      retentionMs: options.retentionMs,
      eventsMaxLength: options.eventsMaxLength,
    });
  }

  /** Start watching an action, or join the watch that already exists for it. */
  async watch(request: WatchRequest): Promise<WatchResult> {
    const [result] = await this.watchMany([request]);
    if (result === undefined) throw new Error('watchMany returned no result');
    return result;
  }

  /**
   * Enqueue many watches in one atomic bulk add. Callers validate everything first, so either
   * every request is enqueued (or joined) or, on a Redis error, none is.
   */
  async watchMany(requests: WatchRequest[]): Promise<WatchResult[]> {
    const now = Date.now();
    const enqueuedAt = new Date(now).toISOString();
    const unique = new Map<string, WatchRequest>();
    for (const request of requests) {
      if (
        request.timeoutMs !== undefined &&
        (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0)
      ) {
        throw new InputError(`timeout must be a positive duration (got ${request.timeoutMs})`);
      }
      unique.set(watchIdOf(request), request);
    }
    const ids = [...unique.keys()];
    await this.clearRewatchable(ids);
    await this.queue.addBulk(
      [...unique.entries()].map(([id, request]) => ({
        name: 'watch',
        data: this.initialData(request, enqueuedAt, now),
        opts: this.jobOptions(id),
      })),
    );
    const watches = await this.getMany(ids);
    return ids.map((id, index) => {
      const watch = watches[index];
      if (watch === undefined) throw new Error(`watch ${id} vanished right after it was enqueued`);
      return { watch, created: watch.enqueuedAt === enqueuedAt && watch.state === 'waiting' };
    });
  }

  async get(id: string): Promise<Watch | undefined> {
    const [watch] = await this.getMany([id]);
    return watch;
  }

  async getMany(ids: string[]): Promise<Array<Watch | undefined>> {
    const [jobs, outcomes] = await Promise.all([
      Promise.all(ids.map((id) => this.queue.getJob(id))),
      this.outcomes.getMany(ids),
    ]);
    return ids.map((id, index) => watchFrom(id, jobs[index]?.data, outcomes[index]));
  }

  /** Pages through watches, newest first within each state; `cursor` is an offset into that order. */
  async list(options: ListOptions = {}): Promise<WatchPage> {
    const state = options.state ?? 'all';
    const limit = Math.max(1, Math.min(options.limit ?? 100, 1000));
    const types =
      state === 'waiting' ? WAITING_TYPES : state === 'done' ? DONE_TYPES : [...WAITING_TYPES, ...DONE_TYPES];
    let offset = options.cursor === undefined ? 0 : Number(options.cursor);
    if (!Number.isInteger(offset) || offset < 0)
      throw new InputError(`cursor is not valid (got ${options.cursor})`);
    const watches: Watch[] = [];
    const chunk = Math.max(limit, 200);
    while (watches.length < limit) {
      const jobs = (await this.queue.getJobs(types, offset, offset + chunk - 1, false)) as Job<
        WatchData,
        OutcomeRecord
      >[];
      if (jobs.length === 0) return { watches, nextCursor: undefined };
      const present = jobs.filter((job) => job?.id !== undefined);
      const outcomes = await this.outcomes.getMany(present.map((job) => job.id as string));
      let consumed = 0;
      for (const [index, job] of present.entries()) {
        consumed = jobs.indexOf(job) + 1;
        const watch = watchFrom(job.id as string, job.data, outcomes[index] ?? job.returnvalue ?? undefined);
        if (watch === undefined || (state !== 'all' && watch.state !== state)) continue;
        if (options.kind !== undefined && watch.kind !== options.kind) continue;
        watches.push(watch);
        if (watches.length === limit) break;
      }
      offset += watches.length === limit ? consumed : jobs.length;
      if (jobs.length < chunk && watches.length < limit) return { watches, nextCursor: undefined };
    }
    return { watches, nextCursor: String(offset) };
  }

  /**
   * Cancels a waiting watch: its outcome `cancelled` is recorded (and emitted) at once, and the job
   * is promoted so a worker finishes it and delivers its notifications without waiting for its
   * next poll. A watch that already ended is returned as it is.
   */
  async cancel(id: string, reason = 'cancelled by request'): Promise<Watch | undefined> {
    const job = await this.queue.getJob(id);
    const existing = await this.outcomes.get(id);
    if (existing !== undefined) return watchFrom(id, job?.data, existing);
    if (job === undefined) return undefined;
    const finishedAt = new Date().toISOString();
    const { record } = await this.outcomes.record({
      type: 'action.cancelled',
      outcome: 'cancelled',
      watch: {
        id,
        kind: job.data.kind,
        resourceId: job.data.resourceId,
        actionId: job.data.actionId,
        enqueuedAt: job.data.enqueuedAt,
        finishedAt,
        polls: job.data.polls,
      },
      action: job.data.action,
      reason,
      ...(job.data.webhooks === undefined ? {} : { webhooks: job.data.webhooks }),
    });
    try {
      if (await job.isDelayed()) await job.promote();
    } catch {
      // It moved on (a worker took it); the worker sees the recorded outcome either way.
    }
    return watchFrom(id, job.data, record);
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts(...WAITING_TYPES, ...DONE_TYPES);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  private initialData(request: WatchRequest, enqueuedAt: string, now: number): WatchData {
    return {
      kind: request.kind,
      resourceId: request.resourceId,
      actionId: request.actionId,
      enqueuedAt,
      deadlineAt: now + (request.timeoutMs ?? this.options.defaultTimeoutMs),
      polls: 0,
      action: null,
      ...(request.webhooks === undefined || request.webhooks.length === 0
        ? {}
        : { webhooks: request.webhooks }),
    };
  }

  private jobOptions(jobId: string): JobsOptions {
    const ageSeconds = Math.ceil(this.options.retentionMs / 1000);
    return {
      jobId,
      delay: this.options.firstPollDelayMs,
      removeOnComplete: { age: ageSeconds },
      removeOnFail: { age: ageSeconds },
      // A watch must never fail for a passing fault: unexpected errors (Redis hiccups) are retried
      // with a capped backoff (see the worker's backoffStrategy) until its deadline ends it.
      attempts: 1_000_000,
      backoff: { type: 'capped' },
    };
  }

  /** Timed-out and cancelled watches make way for a fresh watch of the same action. */
  private async clearRewatchable(ids: string[]): Promise<void> {
    const outcomes = await this.outcomes.getMany(ids);
    for (const [index, outcome] of outcomes.entries()) {
      const id = ids[index];
      if (id === undefined || outcome === undefined || !REWATCHABLE.includes(outcome.outcome)) continue;
      const job = await this.queue.getJob(id);
      if (job !== undefined) {
        if (!(await job.isCompleted()) && !(await job.isFailed())) continue; // still finishing
        await job.remove();
      }
      await this.outcomes.forget(id);
    }
  }
}
