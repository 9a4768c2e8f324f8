/**
 * A wait or a live stream ended because its process is closing (`close()` on the ActionWatcher
 * or Runtime): the watch or chain goes on, and waiting again elsewhere picks its outcome up.
 */
export class FeedClosedError extends Error {
  constructor() {
    super('stopped waiting: the event feed of this process closed (the watch goes on)');
    this.name = 'FeedClosedError';
  }
}
