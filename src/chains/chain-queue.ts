import { type JobsOptions, Queue } from 'bullmq';
import { InputError } from '../errors/input-error.js';
import { fingerprintOf } from '../runs/run-request.js';
import { type Redis, withoutRepeatedErrors } from '../support/redis.js';
import { type Chain, type ChainRecord, chainEventType, chainFrom, initialStepStates } from './chain.js';
import { CHAIN_QUEUE, chainIdFor } from './chain-keys.js';
import { ChainOutcomeStore } from './chain-outcome-store.js';
import type { ChainPlan } from './chain-plan.js';
import { ChainStore } from './chain-store.js';

export interface ChainJobData {
  chainId: string;
}

export interface ChainQueueOptions {
  prefix: string;
  retentionMs: number;
  eventsMaxLength: number;
}

export interface SubmitResult {
  chain: Chain;
  /** False when a chain with this key existed and this submission joined it. */
  created: boolean;
}

export type ChainStateFilter = 'running' | 'done' | 'all';

/**
 * The producer side of chains: submit a plan, look chains up, list and cancel them. A chain is a
 * record in Redis plus one job on the `chains` queue whose id is the chain id, so submitting the
 * same keyed plan twice (or after a crash between the two writes) runs it once.
 */
export class ChainQueue {
  readonly queue: Queue<ChainJobData>;
  readonly store: ChainStore;
  readonly outcomes: ChainOutcomeStore;

  constructor(
    redis: Redis,
    private readonly options: ChainQueueOptions,
  ) {
    this.queue = withoutRepeatedErrors(
      new Queue<ChainJobData>(CHAIN_QUEUE, { connection: redis, prefix: options.prefix }),
    );
    this.store = new ChainStore(redis, { prefix: options.prefix, retentionMs: options.retentionMs });
    this.outcomes = new ChainOutcomeStore(redis, options);
  }

  async submit(plan: ChainPlan, options: { key?: string } = {}): Promise<SubmitResult> {
    const id = chainIdFor(options.key);
    const now = new Date().toISOString();
    const record: ChainRecord = {
      id,
      ...(options.key === undefined ? {} : { key: options.key }),
      fingerprint: fingerprintOf(plan),
      createdAt: now,
      plan,
      current: 0,
      ...initialStepStates(plan),
      updatedAt: now,
    };
    const created = await this.store.create(record);
    const stored = created ? record : await this.store.get(id);
    if (stored === undefined) throw new Error(`chain ${id} vanished right after it was submitted`);
    if (stored.fingerprint !== record.fingerprint)
      throw new InputError(`key ${options.key} was already used for a different chain plan; use another key`);
    const outcome = await this.outcomes.get(id);
    // Also when the record existed: a submission that died between the two writes left no job.
    if (outcome === undefined) await this.queue.add('chain', { chainId: id }, this.jobOptions(id));
    return { chain: chainFrom(stored, outcome), created };
  }

  async get(chainId: string): Promise<Chain | undefined> {
    const [record, outcome] = await Promise.all([this.store.get(chainId), this.outcomes.get(chainId)]);
    return record === undefined ? undefined : chainFrom(record, outcome);
  }

  /** Every chain still kept, newest first. */
  async *list(state: ChainStateFilter = 'all'): AsyncGenerator<Chain> {
    const seen = new Set<string>();
    let atOrBefore: number | undefined;
    for (;;) {
      const entries = (await this.store.ids(200, atOrBefore)).filter((entry) => !seen.has(entry.id));
      if (entries.length === 0) return;
      const ids = entries.map((entry) => entry.id);
      const [records, outcomes] = await Promise.all([this.store.getMany(ids), this.outcomes.getMany(ids)]);
      const gone: string[] = [];
      for (const [index, entry] of entries.entries()) {
        seen.add(entry.id);
        atOrBefore = entry.score;
        const record = records[index];
        if (record === undefined) {
          gone.push(entry.id);
          continue;
        }
        const chain = chainFrom(record, outcomes[index]);
        if (state === 'all' || chain.state === state) yield chain;
      }
      await this.store.dropFromIndex(gone);
    }
  }

  /**
   * Cancels a running chain: its outcome `cancelled` is recorded (and emitted) at once and its job
   * promoted, so a worker finishes it now. No further step starts. Actions already started go on
   * at DigitalOcean, and their watches report their own outcomes.
   */
  async cancel(chainId: string, reason = 'cancelled by request'): Promise<Chain | undefined> {
    const record = await this.store.get(chainId);
    if (record === undefined) return undefined;
    const outcome = await this.outcomes.cancel(
      chainId,
      () => ({
        type: chainEventType('cancelled'),
        outcome: 'cancelled',
        chain: {
          id: chainId,
          ...(record.plan.name === undefined ? {} : { name: record.plan.name }),
          createdAt: record.createdAt,
          finishedAt: new Date().toISOString(),
        },
        steps: record.steps,
        // Cancelled while its cleanup steps ran: the failure they cleaned up after stays visible.
        ...(record.failure?.failedStep === undefined ? {} : { failedStep: record.failure.failedStep }),
        reason:
          record.failure === undefined
            ? reason
            : `${reason} during the onFailure steps after: ${record.failure.reason ?? record.failure.outcome}`,
        ...(record.onFailure === undefined ? {} : { onFailure: record.onFailure }),
        ...(record.plan.webhooks === undefined ? {} : { webhooks: record.plan.webhooks }),
      }),
      () => this.queue.getJob(chainId),
    );
    return chainFrom(record, outcome);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  private jobOptions(jobId: string): JobsOptions {
    const ageSeconds = Math.ceil(this.options.retentionMs / 1000);
    return {
      jobId,
      removeOnComplete: { age: ageSeconds },
      removeOnFail: { age: ageSeconds },
      // A chain never fails for a passing fault: an unexpected error is retried with a capped
      // backoff (see the worker's backoffStrategy).
      attempts: 1_000_000,
      backoff: { type: 'capped' },
    };
  }
}
