import type { PollSchedule } from '../config/config.js';
import type { Action } from '../digitalocean/models.js';

/**
 * When a watch (or a chain step) looks next, for every path that decides it: a watch's own poll,
 * a batched watch answered from a list, the sweeper's due times and a chain's re-checks. Times are
 * epoch milliseconds; an ISO string is read where a stored record keeps one (a watch's
 * `enqueuedAt` and a step's `startedAt` are also part of the public watch and chain JSON).
 */

/** Epoch ms of a time given either way; NaN when unreadable. */
export function epochMs(time: number | string): number {
  return typeof time === 'number' ? time : Date.parse(time);
}

/**
 * How old the action is: from its `started_at` when the API gave one, else from when we started
 * watching. Long transfers are young for seconds and old for hours, so the interval follows age.
 */
export function actionAgeMs(action: Action | null, enqueuedAt: number | string, nowMs: number): number {
  const started = action?.started_at ? Date.parse(action.started_at) : Number.NaN;
  const enqueued = epochMs(enqueuedAt);
  const origin = Number.isNaN(started) ? enqueued : Math.min(started, enqueued);
  return Math.max(0, nowMs - origin);
}

/** The interval before the next poll: age × factor within [min, max], before jitter. */
export function baseInterval(schedule: PollSchedule, ageMs: number): number {
  return Math.min(schedule.maxIntervalMs, Math.max(schedule.minIntervalMs, ageMs * schedule.ageFactor));
}

/**
 * How many GETs a watch's own polls make for an action that ends `durationMs` after its watch
 * began: the first at `firstDelayMs`, then one per interval (without jitter, which averages
 * out), the last being the one that sees it ended. For an estimate (`chain --dry-run`).
 */
export function pollsWithin(schedule: PollSchedule, durationMs: number): number {
  let at = schedule.firstDelayMs;
  let polls = 1;
  while (at < durationMs) {
    at += baseInterval(schedule, at);
    polls += 1;
  }
  return polls;
}

/** The delay before the next poll, with ± jitter so watches enqueued together drift apart. */
export function nextPollDelay(
  schedule: PollSchedule,
  ageMs: number,
  random: () => number = Math.random,
): number {
  const base = baseInterval(schedule, ageMs);
  const spread = base * schedule.jitter * (random() * 2 - 1);
  return Math.max(1, Math.round(base + spread));
}

/** The schedule's interval for a watch whose action was last seen as `action` (null: never seen). */
export function intervalFor(
  schedule: PollSchedule,
  action: Action | null,
  enqueuedAt: number | string,
  nowMs: number,
): number {
  return baseInterval(schedule, actionAgeMs(action, enqueuedAt, nowMs));
}

/** `delayMs`, but waking at the deadline rather than after it (so timed_out is reported on time). */
export function untilDeadline(delayMs: number, deadlineAt: number, nowMs: number): number {
  return Math.max(1, Math.min(delayMs, deadlineAt - nowMs));
}

/** What a watch's own poll needs to know to plan the next one. */
export interface PolledWatch {
  action: Action | null;
  enqueuedAt: number | string;
  deadlineAt: number;
}

/** The delay before a watch's own next poll: the jittered interval, waking at the deadline at the latest. */
export function pollDelay(
  schedule: PollSchedule,
  watch: PolledWatch,
  nowMs: number,
  random: () => number = Math.random,
): number {
  const delay = nextPollDelay(schedule, actionAgeMs(watch.action, watch.enqueuedAt, nowMs), random);
  return untilDeadline(delay, watch.deadlineAt, nowMs);
}

/** No request was made (the shared budget is spent): look again when it allows, spread over a second. */
export function afterBudgetWait(waitMs: number, random: () => number = Math.random): number {
  return waitMs + random() * 1_000;
}

/**
 * A batched watch the budget refused its own GET: looks again when the budget allows, no sooner
 * than the minimum interval, spread over a second, and no later than its sweeper's `sleepMs`.
 */
export function batchedBudgetRetry(
  schedule: PollSchedule,
  waitMs: number,
  sleepMs: number,
  random: () => number = Math.random,
): number {
  return Math.min(sleepMs, Math.max(waitMs, schedule.minIntervalMs) + random() * 1_000);
}

/**
 * How the sweeper's pass over the watched pages stands: while the budget has plenty to spare
 * (`spare`), a watch is considered as often as one pass allows (`cycleMs`), since spare requests
 * buy earlier detection and nothing else.
 */
export interface SweepCadence {
  spare: boolean;
  /** The shortest useful time between reads of one page: the detection bound, or the minimum interval. */
  cycleMs: number;
}

/** Before any round: the schedule alone. */
export const SCHEDULED_CADENCE: SweepCadence = { spare: false, cycleMs: 0 };

/**
 * How often the sweep considers a watch: its schedule's interval, or while the budget has plenty
 * to spare, as often as a full pass of the pages allows (not below the minimum interval). A look
 * sooner than the schedule asks is early: made only when the page is likely to hold newly ended
 * actions (see the planner's `splitEarly`).
 */
export function sweepInterval(
  schedule: PollSchedule,
  cadence: SweepCadence,
  action: Action | null,
  enqueuedAt: number | string,
  nowMs: number,
): number {
  const interval = intervalFor(schedule, action, enqueuedAt, nowMs);
  return cadence.spare ? Math.min(interval, cadence.cycleMs) : interval;
}

const MAX_CHAIN_CHECK_MS = 5_000;

/**
 * When a chain step looks at its watches' outcomes again: often at first, then less (a tenth of
 * the time the step has run), no faster than the watches' minimum interval and at most every 5 s.
 * `startedAt` is the step's start, if known.
 */
export function chainCheckDelay(
  schedule: PollSchedule,
  startedAt: number | string | undefined,
  nowMs: number,
): number {
  const started = startedAt === undefined ? Number.NaN : epochMs(startedAt);
  return chainCheckInterval(schedule, nowMs - (started || nowMs));
}

function chainCheckInterval(schedule: PollSchedule, elapsedMs: number): number {
  return Math.min(MAX_CHAIN_CHECK_MS, Math.max(schedule.minIntervalMs, elapsedMs * 0.1));
}

/**
 * How many times a chain step looks again (at chainCheckDelay) within `durationMs` of its start:
 * the most GETs a step that waits on something (a droplet becoming active) can make. For an
 * estimate (`chain --dry-run`).
 */
export function chainChecksWithin(schedule: PollSchedule, durationMs: number): number {
  let at = 0;
  let checks = 1;
  while (at < durationMs) {
    // At least a second, so a zero minimum interval still counts to an end.
    at += Math.max(1_000, chainCheckInterval(schedule, at));
    checks += 1;
  }
  return checks;
}
