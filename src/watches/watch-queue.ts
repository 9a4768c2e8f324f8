import { type JobsOptions, type JobType, Queue } from 'bullmq';
import { isApiId } from '../digitalocean/action-answer.js';
import { parseResourceIdOf } from '../digitalocean/resource-ids.js';
import { InputError } from '../errors/input-error.js';
import { DurationLearner } from '../fleet/duration-learner.js';
import { type Redis, withoutRepeatedErrors } from '../support/redis.js';
import { WATCH_QUEUE, watchIndexKey, watchQueueName, watchQueuePrefix } from './keys.js';
import { OutcomeStore } from './outcome-store.js';
import {
  awaitsOf,
  type Outcome,
  type OutcomeRecord,
  type Watch,
  type WatchData,
  type WatchWebhook,
  watchFrom,
} from './watch.js';
import { withEta } from './watch-eta.js';
import { type ActionRef, parseWatchId, type WatchRef, watchIdOf } from './watch-ref.js';

/** What to watch (an action, or a droplet's deletion) and how. */
export type WatchRequest = WatchRef & WatchRequestSettings;

export interface WatchRequestSettings {
  /** Deadline after which the watch ends as `timed_out`. Defaults to the configured WATCH_TIMEOUT. */
  timeoutMs?: number;
  webhooks?: WatchWebhook[];
  /** Observe it with the token of this profile (DIGITALOCEAN_TOKEN_<NAME>); default DIGITALOCEAN_TOKEN. */
  tokenProfile?: string;
}

export interface WatchQueueOptions {
  prefix: string;
  defaultTimeoutMs: number;
  retentionMs: number;
  firstPollDelayMs: number;
  eventsMaxLength: number;
  /** Named token profiles whose queues `counts()` includes. */
  tokenProfiles?: readonly string[];
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
  /** The durations batched observation learns (shared in Redis), read here for each watch's eta. */
  readonly durations: DurationLearner;
  private readonly indexKey: string;
  private readonly profileQueues = new Map<string, Queue<WatchData, OutcomeRecord>>();

  constructor(
    readonly redis: Redis,
    private readonly options: WatchQueueOptions,
  ) {
    this.queue = withoutRepeatedErrors(
      new Queue<WatchData, OutcomeRecord>(WATCH_QUEUE, { connection: redis, prefix: options.prefix }),
    );
    this.indexKey = watchIndexKey(options.prefix);
    this.durations = new DurationLearner(redis, options.prefix);
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
   * Enqueue many watches, one atomic bulk add per token profile's queue. Callers validate
   * everything first, so a batch of one profile is enqueued (or joined) whole or, on a Redis
   * error, not at all. A batch spanning profiles is one bulk add per profile: a Redis error between
   * them leaves the first profiles' watches enqueued, and since watch ids come from the actions,
   * sending the same batch again completes it without watching anything twice.
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
      // The last guard for ids that came from DigitalOcean rather than a user (a start's answer).
      if ((request.actionId !== null && !isApiId(request.actionId)) || !isCanonicalResource(request))
        throw new InputError(
          `cannot watch action ${String(request.actionId)} of ${request.kind} ${String(request.resourceId)}: ids are positive whole numbers, UUIDs or addresses as the kind names its resources`,
        );
      unique.set(watchIdOf(request), request);
    }
    const ids = [...unique.keys()];
    await this.clearRewatchable(ids);
    const byProfile = new Map<string | undefined, Array<[string, WatchRequest]>>();
    for (const entry of unique.entries()) {
      const group = byProfile.get(entry[1].tokenProfile) ?? [];
      group.push(entry);
      byProfile.set(entry[1].tokenProfile, group);
    }
    for (const [tokenProfile, entries] of byProfile) {
      await this.queueFor(tokenProfile).addBulk(
        entries.map(([id, request]) => ({
          name: 'watch',
          data: this.initialData(request, enqueuedAt, now),
          opts: this.jobOptions(id),
        })),
      );
    }
    const watches = await this.getMany(ids);
    const index = this.redis.multi();
    for (const [position, id] of ids.entries()) {
      const watch = watches[position];
      const score = Date.parse(watch?.enqueuedAt ?? enqueuedAt);
      // A re-armed watch moves to its new enqueue time; a joined one keeps its place.
      index.zadd(this.indexKey, ...(watch?.enqueuedAt === enqueuedAt ? [] : (['NX'] as const)), score, id);
    }
    await index.exec();
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

  /** The watch's own webhook targets (not the configured ones), as its outcome or its job keeps them. */
  async webhooksOf(id: string): Promise<WatchWebhook[]> {
    const [job, outcome] = await Promise.all([this.jobOf(id), this.outcomes.get(id)]);
    return outcome?.webhooks ?? job?.data.webhooks ?? [];
  }

  async getMany(ids: string[]): Promise<Array<Watch | undefined>> {
    const [jobs, outcomes] = await Promise.all([
      Promise.all(ids.map((id) => this.jobOf(id))),
      this.outcomes.getMany(ids),
      // Re-read at most every few seconds, so pages of a long list share one read.
      this.durations.refresh(),
    ]);
    const now = Date.now();
    return ids.map((id, index) => {
      const watch = watchFrom(id, jobs[index]?.data, outcomes[index]);
      return watch === undefined ? undefined : withEta(watch, this.durations, now);
    });
  }

  /**
   * Pages through watches, newest first. The order comes from our own index (score = enqueue
   * time), not from BullMQ's state lists, because a watch moves between those lists while a
   * client pages; the cursor is the last (score, id) returned, so pages never skip or repeat.
   */
  async list(options: ListOptions = {}): Promise<WatchPage> {
    const state = options.state ?? 'all';
    const limit = Math.max(1, Math.min(options.limit ?? 100, 1000));
    const after = options.cursor === undefined ? undefined : parseCursor(options.cursor);
    const batch = Math.max(limit, 200);
    const watches: Watch[] = [];
    let offset = 0;
    while (true) {
      const raw = await this.redis.zrevrangebyscore(
        this.indexKey,
        after === undefined ? '+inf' : after.score,
        '-inf',
        'WITHSCORES',
        'LIMIT',
        offset,
        batch,
      );
      const entries: Array<{ id: string; score: number }> = [];
      for (let i = 0; i + 1 < raw.length; i += 2)
        entries.push({ id: raw[i] as string, score: Number(raw[i + 1]) });
      offset += entries.length;
      // Equal scores come in reverse id order: skip what the previous page already returned.
      const fresh = entries.filter(
        (entry) => after === undefined || entry.score < after.score || entry.id < after.id,
      );
      const found = await this.getMany(fresh.map((entry) => entry.id));
      const gone: string[] = [];
      for (const [index, entry] of fresh.entries()) {
        const watch = found[index];
        if (watch === undefined) {
          gone.push(entry.id);
          continue;
        }
        if (state !== 'all' && watch.state !== state) continue;
        if (options.kind !== undefined && watch.kind !== options.kind) continue;
        watches.push(watch);
        if (watches.length === limit) {
          if (gone.length > 0) await this.redis.zrem(this.indexKey, ...gone);
          return { watches, nextCursor: `${entry.score}.${entry.id}` };
        }
      }
      // Watches whose job and outcome have both expired leave the index as they are met.
      if (gone.length > 0) await this.redis.zrem(this.indexKey, ...gone);
      if (entries.length < batch) return { watches, nextCursor: undefined };
    }
  }

  /**
   * Cancels a waiting watch: its outcome `cancelled` is recorded (and emitted) at once, and the job
   * is promoted so a worker finishes it and delivers its notifications without waiting for its
   * next poll. A watch that already ended is returned as it is.
   */
  async cancel(id: string, reason = 'cancelled by request'): Promise<Watch | undefined> {
    const job = await this.jobOf(id);
    if (job === undefined) {
      const existing = await this.outcomes.get(id);
      return existing === undefined ? undefined : watchFrom(id, undefined, existing);
    }
    const finishedAt = new Date().toISOString();
    const record = await this.outcomes.cancel(
      id,
      () => ({
        type: 'action.cancelled',
        outcome: 'cancelled',
        watch: {
          id,
          kind: job.data.kind,
          resourceId: job.data.resourceId,
          actionId: job.data.actionId,
          ...awaitsOf(job.data),
          enqueuedAt: job.data.enqueuedAt,
          finishedAt,
          polls: job.data.polls,
          ...(job.data.tokenProfile === undefined ? {} : { tokenProfile: job.data.tokenProfile }),
        },
        action: job.data.action,
        reason,
        ...(job.data.webhooks === undefined ? {} : { webhooks: job.data.webhooks }),
      }),
      async () => job,
    );
    return watchFrom(id, job.data, record);
  }

  async counts(): Promise<Record<string, number>> {
    const queues = [this.queue, ...(this.options.tokenProfiles ?? []).map((name) => this.queueFor(name))];
    const counts = await Promise.all(
      queues.map((queue) => queue.getJobCounts(...WAITING_TYPES, ...DONE_TYPES)),
    );
    const total: Record<string, number> = {};
    for (const count of counts) {
      for (const [state, value] of Object.entries(count)) total[state] = (total[state] ?? 0) + value;
    }
    return total;
  }

  /** The queue of a token profile's watches (the default profile's is `queue`). */
  queueFor(tokenProfile: string | undefined): Queue<WatchData, OutcomeRecord> {
    if (tokenProfile === undefined) return this.queue;
    let queue = this.profileQueues.get(tokenProfile);
    if (queue === undefined) {
      queue = withoutRepeatedErrors(
        new Queue<WatchData, OutcomeRecord>(watchQueueName(tokenProfile), {
          connection: this.redis,
          prefix: watchQueuePrefix(this.options.prefix, tokenProfile),
        }),
      );
      this.profileQueues.set(tokenProfile, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([this.queue, ...this.profileQueues.values()].map((queue) => queue.close()));
  }

  /** A watch's job, in the queue its id's token profile names. */
  private jobOf(id: string) {
    return this.queueFor(parseWatchId(id)?.tokenProfile).getJob(id);
  }

  private initialData(request: WatchRequest, enqueuedAt: string, now: number): WatchData {
    const ref: WatchRef =
      request.actionId === null
        ? { kind: request.kind, resourceId: request.resourceId, actionId: null, awaits: request.awaits }
        : { kind: request.kind, resourceId: request.resourceId, actionId: request.actionId };
    return {
      ...ref,
      enqueuedAt,
      deadlineAt: now + (request.timeoutMs ?? this.options.defaultTimeoutMs),
      polls: 0,
      action: null,
      ...(request.tokenProfile === undefined ? {} : { tokenProfile: request.tokenProfile }),
      ...(request.webhooks === undefined || request.webhooks.length === 0
        ? {}
        : { webhooks: request.webhooks }),
    };
  }

  private jobOptions(jobId: string): JobsOptions {
    return {
      jobId,
      delay: this.options.firstPollDelayMs,
      // Finished jobs are removed after WATCH_RETENTION by the watch worker's removeOnComplete and
      // removeOnFail (set once there, not stored in every job's opts).
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
      const job = await this.jobOf(id);
      if (job !== undefined) {
        if (!(await job.isCompleted()) && !(await job.isFailed())) continue; // still finishing
        await job.remove();
      }
      await this.outcomes.forget(id);
    }
  }
}

function parseCursor(cursor: string): { score: number; id: string } {
  const dot = cursor.indexOf('.');
  const score = Number(cursor.slice(0, dot));
  const id = cursor.slice(dot + 1);
  if (dot <= 0 || !Number.isFinite(score) || id === '')
    throw new InputError(`cursor is not valid (got ${JSON.stringify(cursor)})`);
  return { score, id };
}

/** The resource id is in the one form its kind keeps (see parseResourceIdOf). */
function isCanonicalResource(ref: WatchRef): boolean {
  try {
    return parseResourceIdOf(ref.kind, ref.resourceId ?? undefined) === ref.resourceId;
  } catch (error) {
    if (error instanceof InputError) return false;
    throw error;
  }
}
