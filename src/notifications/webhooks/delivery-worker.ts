import { type Job, UnrecoverableError, type Worker } from 'bullmq';
import type { Logger } from '../../logging/logger.js';
import type { Redis } from '../../support/redis.js';
import { StepWorker } from '../../support/step-worker.js';
import type { Resolver } from './address-guard.js';
import {
  DELIVERY_QUEUE,
  type DeliveryJobData,
  type DeliveryQueue,
  type DeliveryResult,
} from './delivery-queue.js';
import { maxAttempts, type RetrySchedule, retryDelay } from './retry-schedule.js';
import { type AttemptResult, sendWebhook } from './webhook-sender.js';
import type { WebhookSigner } from './webhook-signer.js';

export interface DeliveryWorkerOptions {
  /** A connection made with `forWorker: true`; BullMQ duplicates it for blocking reads. */
  connection: Redis;
  prefix: string;
  deliveries: DeliveryQueue;
  signer: WebhookSigner;
  logger: Logger;
  /** A 2xx must arrive within this long (WEBHOOK_TIMEOUT). */
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE: let targets resolve to loopback/private addresses (development, tests). */
  allowPrivate: boolean;
  schedule: RetrySchedule;
  concurrency?: number;
  lockDurationMs?: number;
  random?: () => number;
  /** DNS for the address check; the system resolver by default. */
  resolver?: Resolver;
}

/** A failed attempt that the schedule retries; carries the delay the worker chose. */
class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/**
 * Sends queued webhook messages: one signed POST per attempt, classified, logged, and either done,
 * retried on the schedule (exponential, jittered, Retry-After honoured) or given up and kept in
 * the failed set for `actionwatch webhooks failed` and `retry`.
 */
export class DeliveryWorker {
  private readonly steps: StepWorker<DeliveryJobData, DeliveryResult>;
  private readonly attemptsAllowed: number;
  private readonly random: () => number;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.attemptsAllowed = maxAttempts(options.schedule);
    this.random = options.random ?? Math.random;
    this.steps = new StepWorker(DELIVERY_QUEUE, (job) => this.deliver(job), {
      connection: options.connection,
      prefix: options.prefix,
      logger: options.logger,
      concurrency: options.concurrency ?? 20,
      lockDurationMs: options.lockDurationMs ?? 30_000,
      // Each attempt's outcome is logged by logAttempt; a failed job is no surprise here.
      names: { worker: 'webhook delivery worker' },
      // A worker dying mid-POST is not the message's fault; it is simply sent again.
      maxStalledCount: 1_000,
      backoff: (_attemptsMade, _type, error) =>
        error instanceof RetryLaterError ? error.delayMs : options.schedule.baseDelayMs,
    });
  }

  /** The BullMQ worker underneath (metrics follow its events). */
  get worker(): Worker<DeliveryJobData, DeliveryResult> {
    return this.steps.worker;
  }

  async start(): Promise<void> {
    if (!this.options.signer.signs) {
      this.options.logger.warn('WEBHOOK_SECRET is not set: webhooks are sent without a webhook-signature');
    }
    await this.steps.start();
  }

  /**
   * Waits (at most `timeoutMs`) until no message is waiting or being sent, so a short-lived process
   * (`wait --with-worker`) makes the first attempt of what it queued before it exits. Messages
   * waiting for a retry are left to whichever worker runs next.
   */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const counts = await this.options.deliveries.queue.getJobCounts('wait', 'active', 'prioritized');
      if (Object.values(counts).every((count) => count === 0)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Finishes the attempts in flight, then disconnects. */
  close(force = false): Promise<void> {
    return this.steps.close(force);
  }

  private async deliver(job: Job<DeliveryJobData, DeliveryResult>): Promise<DeliveryResult> {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const result = await sendWebhook(
      {
        url: data.target,
        body: data.body,
        headers: { ...this.options.signer.headers(data.webhookId, data.body) },
      },
      {
        timeoutMs: this.options.timeoutMs,
        allowPrivate: this.options.allowPrivate,
        ...(this.options.resolver === undefined ? {} : { resolver: this.options.resolver }),
      },
    );
    if (result.disposition === 'delivered' && result.status !== null) {
      this.logAttempt(job, attempt, result, 'delivered');
      return { status: result.status, attempts: attempt, deliveredAt: new Date().toISOString() };
    }

    const clientErrors = (data.clientErrors ?? 0) + (result.disposition === 'client-error' ? 1 : 0);
    const error = result.error ?? `HTTP ${result.status}`;
    await job.updateData({ ...data, clientErrors, lastStatus: result.status, lastError: error });

    const giveUp = await this.reasonToGiveUp(data, attempt, clientErrors, result);
    if (giveUp !== undefined) {
      this.logAttempt(job, attempt, result, 'gave up', { reason: giveUp });
      throw new UnrecoverableError(`${giveUp}: ${error}`);
    }
    const delayMs = retryDelay(this.options.schedule, attempt, this.random, result.retryAfterMs);
    this.logAttempt(job, attempt, result, 'will retry', { retryInMs: delayMs });
    throw new RetryLaterError(error, delayMs);
  }

  private async reasonToGiveUp(
    data: DeliveryJobData,
    attempt: number,
    clientErrors: number,
    result: AttemptResult,
  ): Promise<string | undefined> {
    switch (result.disposition) {
      case 'refused':
        return 'refused';
      case 'gone':
        if (data.source !== 'watch') return 'target answered 410 Gone';
        await this.options.deliveries.markGone(data.target);
        return 'target answered 410 Gone and is disabled for later watches';
      case 'client-error':
        if (clientErrors >= this.options.schedule.clientErrorAttempts)
          return `gave up after ${clientErrors} client errors`;
        break;
      default:
        break;
    }
    return attempt >= this.attemptsAllowed ? `gave up after ${attempt} attempts` : undefined;
  }

  private logAttempt(
    job: Job<DeliveryJobData, DeliveryResult>,
    attempt: number,
    result: AttemptResult,
    verdict: 'delivered' | 'will retry' | 'gave up',
    extra: Record<string, unknown> = {},
  ): void {
    const { data } = job;
    // The host only: a target's path or query may itself be a credential (Slack's are).
    const host = new URL(data.target).host;
    const details = {
      deliveryId: job.id,
      webhookId: data.webhookId,
      watchId: data.watchId,
      type: data.type,
      targetHost: host,
      source: data.source,
      status: result.status,
      durationMs: result.durationMs,
      attempt,
      ...(result.error === undefined ? {} : { err: result.error }),
      ...extra,
    };
    const text = `webhook ${data.type} to ${host}: attempt ${attempt} ${result.status ?? 'no response'}, ${verdict}`;
    if (verdict === 'delivered') this.options.logger.info(details, text);
    else if (verdict === 'gave up') this.options.logger.error(details, text);
    else this.options.logger.warn(details, text);
  }
}
