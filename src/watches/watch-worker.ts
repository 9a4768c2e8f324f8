import { EventEmitter } from 'node:events';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
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
  /** The queue to serve: a token profile's own (see watchQueueName); default `watches`. */
  queueName?: string;
  /** The variable holding this worker's token, for the message when DigitalOcean refuses it. */
  tokenVariable?: string;
}

export interface WatchWorkerEvents {
  'token-rejected': [Error];
  paused: [{ waitMs: number; reason: string }];
}

/** Upper bound between retries of a job whose step failed unexpectedly (a Redis blip, a bug). */
const MAX_BACKOFF_MS = 60_000;

/**
 * A BullMQ worker running WatchProcessor steps, plus the two queue-wide reactions a single job
 * cannot make: pausing every worker after a 429, and stopping this worker when its token is refused.
 */
export class WatchWorker extends EventEmitter<WatchWorkerEvents> {
  readonly worker: Worker<WatchData, OutcomeRecord>;
  private readonly control: Queue;
  private tokenRejected = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: WatchWorkerOptions) {
    super();
    const queueName = options.queueName ?? WATCH_QUEUE;
    this.control = new Queue(queueName, { connection: options.connection, prefix: options.prefix });
    this.worker = new Worker<WatchData, OutcomeRecord>(queueName, (job, token) => this.step(job, token), {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.lockDurationMs,
      // A crash is not the watch's fault: a job may stall (its worker die) any number of times.
      maxStalledCount: 1_000_000,
      autorun: false,
      // Only so that queue.rateLimit() (a 429) holds every worker back; the real metering is the
      // shared request budget, which counts API requests rather than job starts.
      limiter: { max: 1_000_000_000, duration: 1000 },
      settings: {
        backoffStrategy: (attemptsMade: number) =>
          Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attemptsMade, 10)),
      },
    });
    this.worker.on('error', (error) => options.logger.error({ err: error.message }, 'worker error'));
    this.worker.on('failed', (job, error) =>
      options.logger.error(
        { watchId: job?.id, err: error.message },
        'watch step failed unexpectedly; it will be retried',
      ),
    );
  }

  get isTokenRejected(): boolean {
    return this.tokenRejected;
  }

  async start(): Promise<void> {
    this.running = this.worker.run();
    this.running.catch((error: unknown) => {
      this.options.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        'worker stopped',
      );
    });
    await this.worker.waitUntilReady();
  }

  /** Finishes in-flight steps (each bounded by the client's timeouts), then disconnects. */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
    await this.control.close();
    await this.running?.catch(() => {});
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
