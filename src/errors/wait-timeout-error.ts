/**
 * A wait gave up before the outcome was recorded. Only the wait ended: the watch (or chain) goes
 * on, and waiting again later picks its outcome up.
 */
export class WaitTimeoutError extends Error {
  constructor(
    /** The watch id or chain id that was waited on. */
    readonly id: string,
    readonly timeoutMs: number,
  ) {
    super(`no outcome for ${id} within ${timeoutMs} ms (it is still being watched)`);
    this.name = 'WaitTimeoutError';
  }
}
