import { Job, Queue } from 'bullmq';
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
   * Promotes delayed jobs so they run now: one script call each (BullMQ's promote refuses a job
   * that is not delayed any more; that one has started and reads the observation itself).
   * Resolves with how many were promoted.
   */
  async promote(watchIds: readonly string[]): Promise<number> {
    let promoted = 0;
    for (let start = 0; start < watchIds.length; start += PROMOTE_CONCURRENCY) {
      const results = await Promise.all(
        watchIds.slice(start, start + PROMOTE_CONCURRENCY).map((watchId) =>
          new Job(this.queue, 'watch', {}, {}, watchId).promote().then(
            () => 1,
            () => 0,
          ),
        ),
      );
      promoted += results.reduce<number>((sum, value) => sum + value, 0);
    }
    return promoted;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
