import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { promoteDelayed, promoteIfDelayed } from '../src/support/promote-delayed.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { REDIS_TARGET, testPrefix } from './support/stack.js';

const prefix = testPrefix('promote-delayed');
const redis = createRedis(REDIS_TARGET);

afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
});

describe('promoting delayed jobs', () => {
  it('promotes delayed jobs, counts a job that is not delayed or is gone as 0', async () => {
    const queue = new Queue('promote', { connection: redis, prefix });
    try {
      await queue.add('step', {}, { jobId: 'a', delay: 60_000 });
      await queue.add('step', {}, { jobId: 'b', delay: 60_000 });
      await queue.add('step', {}, { jobId: 'c' });
      expect(await promoteDelayed(queue, ['a', 'b', 'c', 'gone'], 2)).toBe(2);
      expect(await queue.getJobState('a')).toBe('waiting');
      expect(await queue.getJobState('b')).toBe('waiting');
      expect(await promoteDelayed(queue, ['a'])).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('rejects when Redis cannot be reached instead of reading it as nothing to promote', async () => {
    const connection = redis.duplicate();
    const queue = new Queue('promote-lost', { connection, prefix });
    await queue.add('step', {}, { jobId: 'x', delay: 60_000 });
    const job = await queue.getJob('x');
    if (job === undefined) throw new Error('job x not added');
    connection.disconnect();
    await expect(promoteIfDelayed(job)).rejects.toThrow();
    await expect(promoteDelayed(queue, ['x'])).rejects.toThrow();
    await queue.close();
    expect(await redis.zscore(`${prefix}:promote-lost:delayed`, 'x')).not.toBeNull();
  });
});
