import type { PollSchedule } from '../config/config.js';
import type { Action } from '../digitalocean/models.js';
import { type SweepCadence, sweepInterval } from '../watches/schedule.js';
import { parseActionWatchId } from '../watches/watch-ref.js';
import type { DueWatch } from './due-watches.js';
import type { DurationLearner } from './duration-learner.js';
import type { JobPromoter } from './job-promoter.js';
import { isEnded, type ObservationStore, type ObservedVia, observes } from './observation-store.js';
import type { SweepReport } from './sweep-report.js';
import type { Registration, WatchRegistry } from './watch-registry.js';
import type { WatchedActions } from './watched-actions.js';

export interface PageRecorderOptions {
  store: ObservationStore;
  registry: WatchRegistry;
  learner: DurationLearner;
  watched: WatchedActions;
  promoter: JobPromoter;
  schedule: PollSchedule;
  apiClock: () => number;
  /** Keeps the lease (and the healthy flag) through a round longer than a tick. */
  keepAlive: () => Promise<void>;
}

/** What the round under way knows: its due watches, and the cadence its pacing set. */
export interface RoundView {
  watches: ReadonlyMap<string, DueWatch>;
  cadence: SweepCadence;
}

/**
 * Records what one list page showed: every watched action on it (due or not: an observation made
 * is an observation kept), the durations of actions seen ending for the first time, each observed
 * watch's due time moved a full interval on, and the jobs of watches whose action ended promoted.
 */
export class PageRecorder {
  constructor(private readonly options: PageRecorderOptions) {}

  /** Resolves with the ids of the watched actions the page showed. */
  async record(
    actions: readonly Action[],
    via: ObservedVia,
    pagePositions: ReadonlyMap<number, number> | undefined,
    round: RoundView,
    report: SweepReport,
  ): Promise<Set<number>> {
    await this.options.keepAlive();
    const now = Date.now();
    const apiNow = this.options.apiClock();
    const watched = await this.options.watched.get(now, round.watches.values());
    const seen = watchedOn(actions, watched);
    const observedIds = new Set(seen.map((action) => action.id));
    if (seen.length === 0) return observedIds;
    const { store } = this.options;
    const newlyEnded = await store.record(
      seen.map((action) => ({ action, observedAt: now, apiObservedAt: apiNow, via })),
    );
    report.observed += seen.length;
    if (pagePositions !== undefined) {
      await store.setPositions(new Map([...pagePositions].filter(([id]) => observedIds.has(id))));
    }
    const endedIds = new Set(newlyEnded);
    for (const action of seen) if (endedIds.has(action.id)) await this.options.learner.learnFrom(action);
    const watchIds = seen.flatMap((action) => watched.get(action.id) ?? []);
    const entries = await this.options.registry.entries(watchIds.filter((id) => !round.watches.has(id)));
    const entryOf = (watchId: string) => round.watches.get(watchId)?.entry ?? entries.get(watchId);
    const next = afterSeen(seen, watchIds, entryOf, (action, entry) =>
      sweepInterval(this.options.schedule, round.cadence, action, entry.enqueuedAt, now),
    );
    const due = new Map([...next.intervals].map(([watchId, interval]) => [watchId, now + interval]));
    await this.options.registry.setDue(due);
    report.promoted += await this.options.promoter.promote(next.finished);
    return observedIds;
  }
}

/**
 * The actions on a page some watch of that id would take (the same check as a poll's answer): an
 * entry under another resource must not become the action's recorded, and final, observation.
 */
export function watchedOn(
  actions: readonly Action[],
  watched: ReadonlyMap<number, readonly string[]>,
): Action[] {
  return actions.filter((action) =>
    (watched.get(action.id) ?? []).some((watchId) => {
      const ref = parseActionWatchId(watchId);
      return ref !== undefined && observes(ref, action);
    }),
  );
}

/**
 * For the watches of the actions seen: those whose action ended (to finish now), and for each
 * other registered one, the interval until it is due again.
 */
export function afterSeen(
  seen: readonly Action[],
  watchIds: readonly string[],
  entryOf: (watchId: string) => Registration | undefined,
  intervalOf: (action: Action, entry: Registration) => number,
): { finished: string[]; intervals: Map<string, number> } {
  const byId = new Map(seen.map((action) => [action.id, action]));
  const intervals = new Map<string, number>();
  const finished: string[] = [];
  for (const watchId of watchIds) {
    const ref = parseActionWatchId(watchId);
    const action = ref === undefined ? undefined : byId.get(ref.actionId);
    if (ref === undefined || action === undefined || !observes(ref, action)) continue;
    if (isEnded(action)) {
      finished.push(watchId);
      continue;
    }
    const entry = entryOf(watchId);
    if (entry !== undefined) intervals.set(watchId, intervalOf(action, entry));
  }
  return { finished, intervals };
}
