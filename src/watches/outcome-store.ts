import type { Redis } from '../support/redis.js';
import { recordOutcomeKeys } from './keys.js';
import {
  type RecordResult as LedgerResult,
  OutcomeLedger,
  type OutcomeStoreOptions,
} from './outcome-ledger.js';
import { outcomeRecordSchema } from './outcome-record-schema.js';
import type { OutcomeRecord } from './watch.js';

export type { OutcomeStoreOptions };
export type RecordResult = LedgerResult<OutcomeRecord>;

/** Watch outcomes: written once, atomically with their `action.*` event on `<prefix>:events`. */
export class OutcomeStore extends OutcomeLedger<OutcomeRecord> {
  constructor(redis: Redis, options: OutcomeStoreOptions) {
    super(redis, options, {
      schema: outcomeRecordSchema,
      keys: recordOutcomeKeys,
      eventOf: (record) => ({ id: record.watch.id, type: record.type }),
    });
  }
}
