import type { Action } from '../digitalocean/models.js';
import type { EstimateBasis } from '../fleet/duration-learner.js';
import type { ActionRef, WatchRef } from './watch-ref.js';

export const OUTCOMES = ['completed', 'errored', 'not_found', 'timed_out', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export function isOutcome(value: string): value is Outcome {
  return (OUTCOMES as readonly string[]).includes(value);
}

/** A per-watch webhook target (see notifications); kept with the watch so a worker can deliver it. */
export interface WatchWebhook {
  url: string;
  /** Outcomes this target wants; all when absent. */
  on?: Outcome[];
}

/** What a watch job carries in Redis between polls. Kept small: 10,000 of these wait at once. */
export type WatchData = WatchRef & WatchState;

/** WatchData but what it waits on. */
export interface WatchState {
  enqueuedAt: string;
  deadlineAt: number;
  polls: number;
  /** The last action seen, reduced by `waitingAction` (the outcome keeps the full one). */
  action: Action | null;
  /**
   * When the job was last parked, the time (ms) its next step was planned for. A step that runs
   * clearly before it was promoted early (a cancel), so only then is the outcome looked up first.
   */
  dueAt?: number;
  /** The undocumented status we already warned about, so each is logged once per action. */
  warnedStatus?: string;
  /** An answer about another action was already logged for this watch (logged once per watch). */
  mismatchLogged?: true;
  lastError?: string;
  webhooks?: WatchWebhook[];
  /** The token profile whose token observes it; absent for the default token. */
  tokenProfile?: string;
}

/** The outcome of a watch, stored once in Redis and emitted once on the events stream. */
export interface OutcomeRecord {
  type: `action.${Outcome}`;
  outcome: Outcome;
  watch: {
    id: string;
    kind: ActionRef['kind'];
    resourceId: ActionRef['resourceId'];
    /** Null for a deletion watch, which has no action. */
    actionId: number | null;
    /** `deletion` for a deletion watch; absent on every action watch. */
    awaits?: 'deletion';
    enqueuedAt: string;
    finishedAt: string;
    polls: number;
    tokenProfile?: string;
  };
  /** The last DigitalOcean action object seen, as the API returned it, or null. */
  action: Action | null;
  /** Why, in words, for outcomes a person will want explained (timed_out, not_found, cancelled). */
  reason?: string;
  webhooks?: WatchWebhook[];
}

/** The public view of a watch: what the CLI prints and the API returns. */
export interface Watch {
  id: string;
  kind: ActionRef['kind'];
  resourceId: ActionRef['resourceId'];
  /** Null for a deletion watch, which has no action. */
  actionId: number | null;
  /** `deletion` for a deletion watch; absent on every action watch. */
  awaits?: 'deletion';
  state: 'waiting' | 'done';
  outcome: Outcome | null;
  action: Action | null;
  polls: number;
  enqueuedAt: string;
  finishedAt: string | null;
  deadlineAt: string | null;
  /**
   * When a waiting watch's action likely ends (read-time estimate from the learned durations of
   * its kind and type), or null: the watch is done, or its action outlived what is known.
   */
  eta: string | null;
  /** What `eta` rests on; `outlived` when there is no estimate; null once done. */
  etaBasis: EtaBasis | null;
  reason?: string;
  lastError?: string;
  tokenProfile?: string;
}

export type EtaBasis = EstimateBasis | 'outlived';

export function compactAction(action: Action): Action {
  const { region: _region, ...rest } = action;
  return rest;
}

/** What of an unfinished action a waiting watch keeps: 10,000 of these wait in Redis at once. */
const WAITING_ACTION_FIELDS = [
  'id',
  'status',
  'type',
  'started_at',
  'resource_id',
  'resource_type',
  'region_slug',
] as const;

/**
 * The last action seen, as a waiting watch keeps it between polls: what the schedule needs
 * (`started_at`), what its eta needs (type, region) and what the watch view shows while it waits
 * (id, status, type, started_at and the resource). The outcome records the action in full.
 */
export function waitingAction(action: Action): Action {
  const kept: Record<string, unknown> = {};
  for (const field of WAITING_ACTION_FIELDS) {
    if (action[field] !== undefined) kept[field] = action[field];
  }
  return kept as Action;
}

export function watchFrom(
  id: string,
  data: WatchData | undefined,
  outcome: OutcomeRecord | undefined,
): Watch | undefined {
  if (outcome !== undefined) {
    return {
      id,
      kind: outcome.watch.kind,
      resourceId: outcome.watch.resourceId,
      actionId: outcome.watch.actionId,
      ...(outcome.watch.awaits === undefined ? {} : { awaits: outcome.watch.awaits }),
      state: 'done',
      outcome: outcome.outcome,
      action: outcome.action,
      polls: outcome.watch.polls,
      enqueuedAt: outcome.watch.enqueuedAt,
      finishedAt: outcome.watch.finishedAt,
      deadlineAt: data === undefined ? null : new Date(data.deadlineAt).toISOString(),
      eta: null,
      etaBasis: null,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      ...(outcome.watch.tokenProfile === undefined ? {} : { tokenProfile: outcome.watch.tokenProfile }),
    };
  }
  if (data === undefined) return undefined;
  return {
    id,
    kind: data.kind,
    resourceId: data.resourceId,
    actionId: data.actionId,
    ...awaitsOf(data),
    state: 'waiting',
    outcome: null,
    action: data.action,
    polls: data.polls,
    enqueuedAt: data.enqueuedAt,
    finishedAt: null,
    deadlineAt: new Date(data.deadlineAt).toISOString(),
    // Filled in by `withEta` where the learned durations are at hand (WatchQueue reads).
    eta: null,
    etaBasis: null,
    ...(data.lastError === undefined ? {} : { lastError: data.lastError }),
    ...(data.tokenProfile === undefined ? {} : { tokenProfile: data.tokenProfile }),
  };
}

/** A waiting watch as its outcome ends it: what `watchFrom` gives once the outcome is stored. */
export function finishedWatch(waiting: Watch, outcome: OutcomeRecord): Watch {
  return { ...(watchFrom(waiting.id, undefined, outcome) as Watch), deadlineAt: waiting.deadlineAt };
}

/** The `awaits` field of a watch's JSON: present only on a deletion watch. */
export function awaitsOf(ref: WatchRef): { awaits?: 'deletion' } {
  return ref.actionId === null ? { awaits: ref.awaits } : {};
}
