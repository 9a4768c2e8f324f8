import { EventEmitter } from 'node:events';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Logger } from '../logging/logger.js';
import { type Redis, withoutRepeatedErrors } from '../support/redis.js';
import { StepWorker } from '../support/step-worker.js';
import { WATCH_QUEUE } from './keys.js';
import type { OutcomeRecord, WatchData } from './watch.js';
import { PauseQueueError, TokenRejectedError, type WatchProcessor } from './watch-processor.js';

export interface WatchWorkerOptions {
  /** A connection made with `forWorker: true` (maxRetriesPerRequest: null); BullMQ duplicates it. */
  connection: Redis;
  prefix: string;
  processor: WatchProcessor;
  logger: Logger;
  concurrency: number;
  /** How long a job stays locked to this worker; a killed worker's jobs come back after it. */
  lockDurationMs: number;
  /** How long a finished watch's job is kept (WATCH_RETENTION); watch jobs do not carry it. */
  retentionMs: number;
  /** The queue to serve: a token profile's own (see watchQueueName); default `watches`. */
  queueName?: string;
  /** The variable holding this worker's token, for the message when DigitalOcean refuses it. */
  tokenVariable?: string;
}

export interface WatchWorkerEvents {
  'token-rejected': [TokenRejectedError];
  paused: [{ waitMs: number; reason: string }];
}

/**
 * A BullMQ worker running WatchProcessor steps, plus the two queue-wide reactions a single job
 * cannot make: pausing every worker after a 429, and stopping this worker when its token is refused.
 */
export class WatchWorker extends EventEmitter<WatchWorkerEvents> {
  readonly worker: Worker<WatchData, OutcomeRecord>;
  private readonly control: Queue;
  private readonly steps: StepWorker<WatchData, OutcomeRecord>;
  private tokenRejected = false;

  constructor(private readonly options: WatchWorkerOptions) {
    super();
    const queueName = options.queueName ?? WATCH_QUEUE;
    this.control = withoutRepeatedErrors(
      new Queue(queueName, { connection: options.connection, prefix: options.prefix }),
    );
    this.steps = new StepWorker(queueName, (job, token) => this.step(job, token), {
      ...options,
      names: { worker: 'worker', job: 'watch', idField: 'watchId' },
      keepFinishedMs: options.retentionMs,
      // Only so that queue.rateLimit() (a 429) holds every worker back; the real metering is the
      // shared request budget, which counts API requests rather than job starts.
      limiter: { max: 1_000_000_000, duration: 1000 },
    });
    this.worker = this.steps.worker;
  }

  get isTokenRejected(): boolean {
    return this.tokenRejected;
  }

  async start(): Promise<void> {
    await this.steps.start();
  }

  /** Finishes in-flight steps (each bounded by the client's timeouts), then disconnects. */
  async close(force = false): Promise<void> {
    await this.steps.close(force);
    await this.control.close();
  }

  private async step(job: Job<WatchData, OutcomeRecord>, token: string | undefined): Promise<OutcomeRecord> {
    try {
      return await this.options.processor.process(job, token);
    } catch (error) {
      if (error instanceof PauseQueueError) {
        await this.control.rateLimit(error.waitMs);
        this.options.logger.warn({ waitMs: error.waitMs, reason: error.reason }, 'pausing every worker');
        this.emit('paused', { waitMs: error.waitMs, reason: error.reason });
        throw Worker.RateLimitError();
      }
      if (error instanceof TokenRejectedError) {
        this.onTokenRejected(error);
        // Keep the watch: another worker with a valid token (or this one, restarted) takes it.
        await job.moveToDelayed(Date.now() + 5_000, token);
        throw new DelayedError();
      }
      throw error;
    }
  }

  private onTokenRejected(error: TokenRejectedError): void {
    if (this.tokenRejected) return;
    this.tokenRejected = true;
    void this.worker.pause(true);
    this.options.logger.error(
      { status: error.apiError.status, err: error.message },
      `DigitalOcean refused the token: this worker has stopped polling. Every watch is kept and resumes when a worker starts with a valid ${this.options.tokenVariable ?? 'DIGITALOCEAN_TOKEN'}.`,
    );
    this.emit('token-rejected', error);
  }
}
