import { parseActionWatchId } from '../watches/watch-ref.js';
import type { DueWatch } from './due-watches.js';
import type { WatchRegistry } from './watch-registry.js';

const REFRESH_MS = 1_000;

/** Every watched action id with its watches, read from the registry at most once a second. */
export class WatchedActions {
  private watched = new Map<number, string[]>();
  private readAt = 0;

  constructor(private readonly registry: Pick<WatchRegistry, 'watchIds'>) {}

  /** The watched actions as of at most a second ago, with the watches due this round added. */
  async get(now: number, due: Iterable<DueWatch>): Promise<Map<number, string[]>> {
    if (now - this.readAt >= REFRESH_MS) {
      this.watched = byAction(await this.registry.watchIds());
      this.readAt = now;
    }
    for (const watch of due) {
      const ids = this.watched.get(watch.ref.actionId) ?? [];
      if (!ids.includes(watch.watchId)) {
        ids.push(watch.watchId);
        this.watched.set(watch.ref.actionId, ids);
      }
    }
    return this.watched;
  }

  /** The next `get` reads the registry again. */
  forget(): void {
    this.readAt = 0;
  }
}

function byAction(watchIds: readonly string[]): Map<number, string[]> {
  const watched = new Map<number, string[]>();
  for (const watchId of watchIds) {
    const ref = parseActionWatchId(watchId);
    if (ref === undefined) continue;
    const ids = watched.get(ref.actionId) ?? [];
    ids.push(watchId);
    watched.set(ref.actionId, ids);
  }
  return watched;
}
