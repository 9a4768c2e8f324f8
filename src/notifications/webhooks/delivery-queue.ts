import { type Job, type JobsOptions, Queue } from 'bullmq';
import type { ChainEventType } from '../../chains/chain.js';
import { InputError } from '../../errors/input-error.js';
import { type Redis, withoutRepeatedErrors } from '../../support/redis.js';
import type { Outcome } from '../../watches/watch.js';
import type { TargetSource, WebhookFormat } from './webhook-targets.js';

export const DELIVERY_QUEUE = 'deliveries';

/** Per-watch target URLs that answered 410 Gone: no new message is queued for them. */
export function goneTargetsKey(prefix: string): string {
  return `${prefix}:webhooks:gone`;
}

/** One message to one target. `body` is the exact bytes signed and sent on every attempt. */
export interface DeliveryJobData {
  webhookId: string;
  /** The watch, or for `chain.*` messages the chain, whose outcome this is. */
  watchId: string;
  type: `action.${Outcome}` | ChainEventType;
  target: string;
  format: WebhookFormat;
  source: TargetSource;
  body: string;
  createdAt: string;
  /** Attempts answered with a client error since the message was (re)queued. */
  clientErrors?: number;
  lastStatus?: number | null;
  lastError?: string;
}

export interface DeliveryResult {
  status: number;
  attempts: number;
  deliveredAt: string;
}

export interface NewDelivery {
  jobId: string;
  data: DeliveryJobData;
}

/** A message whose retries ran out (or that was refused), as `actionwatch webhooks failed` prints it. */
export interface FailedDelivery {
  id: string;
  webhookId: string;
  target: string;
  type: string;
  watchId: string;
  status: number | null;
  lastError: string;
  attempts: number;
  failedAt: string | null;
}

export interface DeliveryQueueOptions {
  prefix: string;
  /** How long delivered messages are kept for inspection. */
  completedRetentionMs: number;
  /** How many failed messages are kept (the newest); they stay until retried or pushed out. */
  failedKept?: number;
}

/** Far more than any schedule allows: the delivery worker decides when to give up, not BullMQ. */
const ATTEMPTS_CEILING = 10_000;
const PAGE = 500;

/** The producer side of webhook deliveries: enqueue, inspect failures, retry them. */
export class DeliveryQueue {
  readonly queue: Queue<DeliveryJobData, DeliveryResult>;

  constructor(
    private readonly redis: Redis,
    private readonly options: DeliveryQueueOptions,
  ) {
    this.queue = withoutRepeatedErrors(
      new Queue<DeliveryJobData, DeliveryResult>(DELIVERY_QUEUE, {
        connection: redis,
        prefix: options.prefix,
      }),
    );
  }

  /**
   * Adds every delivery in one atomic step. Job ids are derived from the outcome and the target,
   * so adding the same deliveries again (a re-run after a crash) adds nothing.
   */
  async enqueue(deliveries: NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.queue.addBulk(
      deliveries.map(({ jobId, data }) => ({ name: data.type, data, opts: this.jobOptions(jobId) })),
    );
  }

  /** Which of these URLs answered 410 Gone earlier. */
  async goneAmong(urls: string[]): Promise<Set<string>> {
    if (urls.length === 0) return new Set();
    const flags = await this.redis.smismember(goneTargetsKey(this.options.prefix), ...urls);
    return new Set(urls.filter((_, index) => flags[index] === 1));
  }

  async markGone(url: string): Promise<void> {
    await this.redis.sadd(goneTargetsKey(this.options.prefix), url);
  }

  /** Every failed message, the most recent failure first. */
  async *failed(): AsyncGenerator<FailedDelivery> {
    for (let start = 0; ; start += PAGE) {
      const jobs = await this.queue.getFailed(start, start + PAGE - 1);
      for (const job of jobs) if (job !== undefined) yield describeFailed(job);
      if (jobs.length < PAGE) return;
    }
  }

  /**
   * Sends a failed message again, from a fresh schedule and with the same `webhook-id`. Takes the
   * job id or the webhook id. Retrying a message to a per-watch target that answered 410 Gone
   * re-enables that target: asking for it again is taken as word that it is back.
   */
  async retry(id: string): Promise<FailedDelivery> {
    const job = await this.findJob(id);
    if (job === undefined)
      throw new InputError(`no webhook delivery ${JSON.stringify(id)} (see actionwatch webhooks failed)`);
    const state = await job.getState();
    if (state !== 'failed')
      throw new InputError(
        `webhook delivery ${job.id} is ${state}, not failed: only failed ones can be retried`,
      );
    return this.retryJob(job);
  }

  /** Retries the messages failed at the time of the call (one failing again at once stays failed). */
  async retryAll(): Promise<FailedDelivery[]> {
    const ids: string[] = [];
    for await (const failed of this.failed()) ids.push(failed.id);
    const retried: FailedDelivery[] = [];
    for (const id of ids) {
      const job = await this.queue.getJob(id);
      // Skipped if it moved on meanwhile (retried by someone else, or removed).
      if (job !== undefined && (await job.getState()) === 'failed') retried.push(await this.retryJob(job));
    }
    return retried;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  private async retryJob(job: Job<DeliveryJobData, DeliveryResult>): Promise<FailedDelivery> {
    const description = describeFailed(job);
    const { clientErrors: _clientErrors, ...data } = job.data;
    await job.updateData(data);
    if (data.source === 'watch') await this.redis.srem(goneTargetsKey(this.options.prefix), data.target);
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return description;
  }

  private async findJob(id: string): Promise<Job<DeliveryJobData, DeliveryResult> | undefined> {
    if (!id.startsWith('msg_')) return (await this.queue.getJob(id)) ?? undefined;
    for await (const failed of this.failed()) {
      if (failed.webhookId === id) return (await this.queue.getJob(failed.id)) ?? undefined;
    }
    return undefined;
  }

  private jobOptions(jobId: string): JobsOptions {
    return {
      jobId,
      attempts: ATTEMPTS_CEILING,
      backoff: { type: 'webhook' },
      removeOnComplete: { age: Math.ceil(this.options.completedRetentionMs / 1000) },
      removeOnFail: { count: this.options.failedKept ?? 100_000 },
    };
  }
}

function describeFailed(job: Job<DeliveryJobData, DeliveryResult>): FailedDelivery {
  return {
    id: job.id as string,
    webhookId: job.data.webhookId,
    target: job.data.target,
    type: job.data.type,
    watchId: job.data.watchId,
    status: job.data.lastStatus ?? null,
    lastError: job.failedReason || job.data.lastError || 'unknown',
    attempts: job.attemptsMade,
    failedAt: job.finishedOn === undefined ? null : new Date(job.finishedOn).toISOString(),
  };
}
