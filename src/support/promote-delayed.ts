import { ErrorCode, Job, type Queue } from 'bullmq';

/** BullMQ's answer when the job is gone or not delayed: it ran, finished or was removed meanwhile. */
function isNotDelayed(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === ErrorCode.JobNotExist || code === ErrorCode.JobNotInState;
}

/**
 * Moves a delayed job to run now (BullMQ's promote, one atomic script). False when it is not
 * delayed any more (a worker has it, it finished, or it is gone); anything else, such as a lost
 * connection, rejects.
 */
export async function promoteIfDelayed(job: Job): Promise<boolean> {
  try {
    await job.promote();
    return true;
  } catch (error) {
    if (isNotDelayed(error)) return false;
    throw error;
  }
}

/**
 * Promotes the delayed jobs `jobIds` of `queue`, `concurrency` at a time; resolves with how many
 * were promoted. A job that is not delayed counts 0; a failure of Redis rejects (see
 * promoteIfDelayed), so a caller never reads a lost connection as "nothing to promote".
 */
export async function promoteDelayed(
  queue: Queue,
  jobIds: readonly string[],
  concurrency = 50,
): Promise<number> {
  let promoted = 0;
  for (let start = 0; start < jobIds.length; start += concurrency) {
    const results = await Promise.all(
      jobIds.slice(start, start + concurrency).map(async (jobId) => {
        const job = await Job.fromId(queue, jobId);
        return job !== undefined && (await promoteIfDelayed(job)) ? 1 : 0;
      }),
    );
    for (const result of results) promoted += result;
  }
  return promoted;
}
