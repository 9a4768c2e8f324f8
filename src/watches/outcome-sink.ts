import type { OutcomeRecord } from './watch.js';

/**
 * Something that must happen for every outcome, such as enqueueing webhook deliveries. The worker
 * calls every sink before it lets the watch job finish, and calls them again if it crashed before
 * finishing, so a sink must be idempotent (derive job ids from the watch id).
 */
export interface OutcomeSink {
  readonly name: string;
  accept(record: OutcomeRecord): Promise<void>;
}
