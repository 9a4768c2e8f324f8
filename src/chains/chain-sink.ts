import type { ChainOutcomeRecord } from './chain.js';

/**
 * Something that must happen for every chain outcome (the chain counterpart of OutcomeSink). The
 * chain worker runs every sink before the chain job completes, and again if it crashed before
 * that, so a sink must be idempotent (derive ids from the chain id).
 */
export interface ChainOutcomeSink {
  readonly name: string;
  accept(record: ChainOutcomeRecord): Promise<void>;
}
