import { Queue } from 'bullmq';
import { promoteDelayed } from '../support/promote-delayed.js';
import { type Redis, withoutRepeatedErrors } from '../support/redis.js';
import { watchQueuePrefix } from '../watches/keys.js';

const PROMOTE_CONCURRENCY = 500;

/** Wakes delayed watch jobs of one profile's queue so they run now. */
export class JobPromoter {
  private readonly queue: Queue;

  constructor(redis: Redis, prefix: string, profile: string, queueName: string) {
    this.queue = withoutRepeatedErrors(
      new Queue(queueName, { connection: redis, prefix: watchQueuePrefix(prefix, profile) }),
    );
  }

  /**
   * Promotes delayed jobs so they run now. A job that is not delayed any more has started (it reads
   * the observation itself) or is gone, and counts 0; a failure of Redis rejects, so the round
   * fails and its watches fall back to their own GETs rather than sleeping on. Resolves with how
   * many were promoted.
   */
  async promote(watchIds: readonly string[]): Promise<number> {
    return promoteDelayed(this.queue, watchIds, PROMOTE_CONCURRENCY);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
