import type { Worker } from 'bullmq';
import type { Logger } from '../logging/logger.js';
import type { Redis } from '../support/redis.js';
import { StepWorker } from '../support/step-worker.js';
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

/** A BullMQ worker on the `chains` queue running ChainProcessor steps. */
export class ChainWorker {
  readonly worker: Worker<ChainJobData, ChainOutcomeRecord | undefined>;
  private readonly steps: StepWorker<ChainJobData, ChainOutcomeRecord | undefined>;

  constructor(options: ChainWorkerOptions) {
    this.steps = new StepWorker(CHAIN_QUEUE, (job, token) => options.processor.process(job, token), {
      ...options,
      names: { worker: 'chain worker', job: 'chain', idField: 'chainId' },
    });
    this.worker = this.steps.worker;
  }

  async start(): Promise<void> {
    await this.steps.start();
  }

  /** Finishes in-flight steps, then disconnects. */
  async close(force = false): Promise<void> {
    await this.steps.close(force);
  }
}
