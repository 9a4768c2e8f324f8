import { type Job, type Processor, Worker, type WorkerOptions } from 'bullmq';
import type { Logger } from '../logging/logger.js';
import type { Redis } from './redis.js';

export interface StepWorkerOptions {
  /** A connection made with `forWorker: true` (maxRetriesPerRequest: null); BullMQ duplicates it. */
  connection: Redis;
  prefix: string;
  logger: Logger;
  concurrency: number;
  /** How long a job stays locked to this worker; a killed worker's jobs come back after it. */
  lockDurationMs: number;
  /**
   * What the logs call this worker and its jobs, e.g. `{worker: 'chain worker', job: 'chain'}`.
   * Without `job`, a failed job is not logged here: its processor already said why.
   */
  names: { worker: string; job?: string; idField?: string };
  limiter?: WorkerOptions['limiter'];
  /**
   * Keep finished (completed or failed) jobs this long, then remove them: BullMQ's removeOnComplete
   * and removeOnFail set on the worker, for jobs whose own opts do not say. Default: keep them.
   */
  keepFinishedMs?: number;
  /** How many times a job may stall (its worker die) before it fails; default: any number. */
  maxStalledCount?: number;
  /** The delay before a failed job's next attempt; default exponential up to a minute. */
  backoff?: (attemptsMade: number, type?: string, error?: Error) => number;
}

/** Upper bound between retries of a job whose step failed unexpectedly (a Redis blip, a bug). */
const MAX_BACKOFF_MS = 60_000;

/**
 * The BullMQ worker shared by the watch, chain and webhook delivery workers: by default one
 * long-lived job per watch or chain, advanced one step at a time, that survives any number of
 * worker crashes and backs off when a step fails unexpectedly. Its start and close are the one
 * lifecycle of every worker in the process.
 */
export class StepWorker<Data, Result> {
  readonly worker: Worker<Data, Result>;
  private running: Promise<void> | undefined;

  constructor(
    queueName: string,
    step: (job: Job<Data, Result>, token: string | undefined) => Promise<Result>,
    private readonly options: StepWorkerOptions,
  ) {
    const { names, logger } = options;
    this.worker = new Worker<Data, Result>(queueName, step as Processor<Data, Result>, {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.lockDurationMs,
      // A crash is not the job's fault: it may stall (its worker die) any number of times.
      maxStalledCount: options.maxStalledCount ?? 1_000_000,
      autorun: false,
      ...(options.limiter === undefined ? {} : { limiter: options.limiter }),
      ...(options.keepFinishedMs === undefined
        ? {}
        : {
            removeOnComplete: { age: Math.ceil(options.keepFinishedMs / 1000) },
            removeOnFail: { age: Math.ceil(options.keepFinishedMs / 1000) },
          }),
      settings: {
        backoffStrategy:
          options.backoff ??
          ((attemptsMade: number) => Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attemptsMade, 10))),
      },
    });
    this.worker.on('error', (error) => logger.error({ err: error.message }, `${names.worker} error`));
    const { job: jobName, idField = 'jobId' } = names;
    if (jobName !== undefined)
      this.worker.on('failed', (job, error) =>
        logger.error(
          { [idField]: job?.id, err: error.message },
          `${jobName} step failed unexpectedly; it will be retried`,
        ),
      );
  }

  async start(): Promise<void> {
    this.running = this.worker.run();
    this.running.catch((error: unknown) => {
      this.options.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        `${this.options.names.worker} stopped`,
      );
    });
    await this.worker.waitUntilReady();
  }

  /** Finishes in-flight steps, then disconnects. */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
    await this.running?.catch(() => {});
  }
}
