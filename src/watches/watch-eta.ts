import type { DurationLearner } from '../fleet/duration-learner.js';
import type { Watch } from './watch.js';

/**
 * A waiting watch with its `eta`, as learned from actions of the same kind and type (in the same
 * region, once a few of those ended) that ended:
 * its start plus their typical duration, or, once that time has passed, now plus what is typically
 * left of those that ran this long. Until then it is the same on every read (for a learner that
 * learned nothing new), not one that creeps forward with the clock. Before the first poll the type
 * is unknown and the enqueue time stands in for the start, so it rests on the kind's history (or
 * the default). Only reads: the history lives in Redis, kept by whichever worker observes in batches.
 */
export function withEta(watch: Watch, learner: Pick<DurationLearner, 'estimate'>, now: number): Watch {
  if (watch.state !== 'waiting') return { ...watch, eta: null, etaBasis: null };
  const action = watch.action;
  const kind = action?.resource_type ?? watch.kind;
  const started = Date.parse(action?.started_at ?? watch.enqueuedAt);
  const startedAt = Number.isNaN(started) ? Date.parse(watch.enqueuedAt) : started;
  const region = { region: action?.region_slug ?? undefined };
  const typical = learner.estimate(kind, action?.type, 0, region);
  if (typical.remainingMs !== undefined && startedAt + typical.remainingMs > now)
    return {
      ...watch,
      eta: new Date(startedAt + typical.remainingMs).toISOString(),
      etaBasis: typical.basis,
    };
  const rest = learner.estimate(kind, action?.type, now - startedAt, region);
  if (rest.remainingMs === undefined) return { ...watch, eta: null, etaBasis: 'outlived' };
  return { ...watch, eta: new Date(now + rest.remainingMs).toISOString(), etaBasis: rest.basis };
}
