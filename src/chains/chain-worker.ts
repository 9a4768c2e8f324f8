import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { ChainOutcomeRecord } from './chain.js';
import { CHAIN_QUEUE } from './chain-keys.js';
import type { ChainProcessor } from './chain-processor.js';
import type { ChainJobData } from './chain-queue.js';

export interface ChainWorkerOptions {
  /** A connection made with `forWorker: true`; BullMQ duplicates it. */
  connection: Redis;
  prefix: string;
  processor: ChainProcessor;
  logger: Logger;
  concurrency: number;
  /** A killed worker's chain comes back to another worker after this long. */
  lockDurationMs: number;
}

const MAX_BACKOFF_MS = 60_000;

/** A BullMQ worker on the `chains` queue running ChainProcessor steps. */
export class ChainWorker {
  readonly worker: Worker<ChainJobData, ChainOutcomeRecord | undefined>;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ChainWorkerOptions) {
    this.worker = new Worker<ChainJobData, ChainOutcomeRecord | undefined>(
      CHAIN_QUEUE,
      (job: Job<ChainJobData, ChainOutcomeRecord | undefined>, token) =>
        options.processor.process(job, token),
      {
        connection: options.connection,
        prefix: options.prefix,
        concurrency: options.concurrency,
        lockDuration: options.lockDurationMs,
        stalledInterval: options.lockDurationMs,
        // A crash is not the chain's fault: its job may stall (its worker die) any number of times.
        maxStalledCount: 1_000_000,
        autorun: false,
        settings: {
          backoffStrategy: (attemptsMade: number) =>
            Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attemptsMade, 10)),
        },
      },
    );
    this.worker.on('error', (error) => options.logger.error({ err: error.message }, 'chain worker error'));
    this.worker.on('failed', (job, error) =>
      options.logger.error(
        { chainId: job?.id, err: error.message },
        'chain step failed unexpectedly; it will be retried',
      ),
    );
  }

  async start(): Promise<void> {
    this.running = this.worker.run();
    this.running.catch((error: unknown) => {
      this.options.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        'chain worker stopped',
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
