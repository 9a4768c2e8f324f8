import type { PollSchedule } from '../config/config.js';
import { intervalFor, type SweepCadence, sweepInterval } from '../watches/schedule.js';
import { type ActionRef, parseActionWatchId } from '../watches/watch-ref.js';
import type { DurationLearner } from './duration-learner.js';
import { isEnded, type Observation, observes } from './observation-store.js';
import type { PlannerTarget } from './planner.js';
import type { Registration } from './watch-registry.js';

/** What the learned durations say about an action's chances of having ended. */
export type EndOdds = Pick<DurationLearner, 'endedBy' | 'endedSince'>;

/** A watch due for an observation this round, with what the sweeper knows of it. */
export interface DueWatch {
  watchId: string;
  ref: ActionRef;
  entry: Registration;
  observation: Observation | undefined;
  interval: number;
  /** When its poll schedule wants it observed (a look before then is early). */
  scheduledAt: number;
}

/** A due watch as the planner weighs it, carrying the watch it stands for. */
export interface DueTarget extends PlannerTarget {
  watch: DueWatch;
}

/** What Redis holds about the watches due this round. */
export interface DueFacts {
  /** Each parseable watch id's action. */
  refs: ReadonlyMap<string, ActionRef>;
  entries: ReadonlyMap<string, Registration>;
  /** Until when a watch polls with its own GET. */
  directs: ReadonlyMap<string, number>;
  /** Watches whose outcome is already recorded. */
  outcomes: ReadonlySet<string>;
  /** The latest observation of each action, by action id. */
  observations: ReadonlyMap<number, Observation>;
}

export interface DueContext {
  now: number;
  /** The API clock at `now`. */
  apiNow: number;
  tickMs: number;
  /** How long a looked-after watch sleeps between steps of its own. */
  sleepMs: number;
  schedule: PollSchedule;
  /** The cadence the last round left (see `sweepInterval`). */
  cadence: SweepCadence;
  odds: EndOdds;
}

/** The due watches, sorted by what the round does with each. */
export interface DueSorting {
  /** No longer looked after (no registration, outcome recorded, or its job long gone): unregistered. */
  gone: string[];
  /** Their action was seen ended: their jobs are promoted to finish now. */
  ended: string[];
  /** Moved on without a request (past deadline, observed recently, or polling by itself), with when. */
  due: Map<string, number>;
  /** Due for an observation: for the planner. */
  targets: DueTarget[];
}

/** Each watch id that names an action, with its action. */
export function refsOf(watchIds: readonly string[]): Map<string, ActionRef> {
  const refs = new Map<string, ActionRef>();
  for (const watchId of watchIds) {
    const ref = parseActionWatchId(watchId);
    if (ref !== undefined) refs.set(watchId, ref);
  }
  return refs;
}

/** Sorts the watches due this round; no request and no write, only what the facts say. */
export function sortDue(watchIds: readonly string[], facts: DueFacts, context: DueContext): DueSorting {
  const sorting: DueSorting = { gone: [], ended: [], due: new Map(), targets: [] };
  const { now, tickMs, sleepMs } = context;
  for (const watchId of watchIds) {
    const ref = facts.refs.get(watchId);
    const entry = facts.entries.get(watchId);
    if (ref === undefined || entry === undefined || facts.outcomes.has(watchId) || stale(entry, context)) {
      sorting.gone.push(watchId);
      continue;
    }
    const seen = facts.observations.get(ref.actionId);
    const observation = seen !== undefined && observes(ref, seen.action) ? seen : undefined;
    if (observation !== undefined && isEnded(observation.action)) {
      sorting.ended.push(watchId);
      continue;
    }
    const interval = sweepInterval(
      context.schedule,
      context.cadence,
      observation?.action ?? null,
      entry.enqueuedAt,
      now,
    );
    if (entry.deadlineAt <= now) {
      // Its job times out by itself; nothing to spend on it.
      sorting.due.set(watchId, now + sleepMs);
      continue;
    }
    if (observation !== undefined && observation.observedAt + interval > now + tickMs / 2) {
      // Observed recently enough (by its own GET, or a list since this round was read).
      sorting.due.set(watchId, observation.observedAt + interval);
      continue;
    }
    const directUntil = facts.directs.get(watchId) ?? 0;
    if (directUntil > now) {
      sorting.due.set(watchId, directUntil);
      continue;
    }
    const scheduledAt =
      observation === undefined
        ? now
        : observation.observedAt + intervalFor(context.schedule, observation.action, entry.enqueuedAt, now);
    const watch: DueWatch = { watchId, ref, entry, observation, interval, scheduledAt };
    sorting.targets.push(targetOf(watch, seen !== undefined && observation === undefined, context));
  }
  return sorting;
}

/** Its job has not stepped for two sleeps: it is gone (finished, or removed with its queue). */
function stale(entry: Registration, context: DueContext): boolean {
  return entry.wakeAt + 2 * context.sleepMs < context.now;
}

function targetOf(watch: DueWatch, directOnly: boolean, context: DueContext): DueTarget {
  const { ref, observation } = watch;
  const value = worthOf(watch, context);
  return {
    early: watch.scheduledAt > context.now + context.tickMs / 2,
    delayS:
      observation === undefined
        ? undefined
        : (value * Math.max(0, context.apiNow - observation.apiObservedAt)) / 2000,
    watchId: watch.watchId,
    actionId: ref.actionId,
    kind: ref.kind,
    resourceId: ref.resourceId,
    value,
    page: undefined,
    directOnly,
    watch,
  };
}

/**
 * What one more look at this watch is worth: the chance its action ended since it was last seen
 * running, by the durations learned for its type; one more when it was never seen at all.
 */
export function worthOf(watch: Pick<DueWatch, 'ref' | 'observation' | 'entry'>, context: DueContext): number {
  const { ref, observation, entry } = watch;
  const { odds, now, apiNow } = context;
  if (observation === undefined) return 1 + odds.endedBy(ref.kind, undefined, now - entry.enqueuedAt);
  const started = observation.action.started_at ? Date.parse(observation.action.started_at) : Number.NaN;
  if (Number.isNaN(started)) return odds.endedBy(ref.kind, observation.action.type, now - entry.enqueuedAt);
  return odds.endedSince(
    ref.kind,
    observation.action.type,
    observation.apiObservedAt - started,
    apiNow - started,
  );
}
