import type { AccountSweepResult } from './account-sweep.js';
import type { DueTarget } from './due-watches.js';
import type { MissedRounds } from './missed-rounds.js';
import type { Plan } from './planner.js';

/** What became of some of a round's targets once their requests were made (or not). */
export interface Settlement {
  /** Targets a list saw. */
  seen: number;
  /** Left to their own GET. */
  direct: string[];
  /** Looked at again later, with when. */
  due: Map<string, number>;
}

export interface RoundTiming {
  now: number;
  tickMs: number;
}

/**
 * When the targets the plan does not read come due again: a held one (the budget is short) in
 * half its interval, a waiting one (early, not worth a request yet) at its scheduled time or in
 * half a pass of the pages, whichever is first; never within a tick.
 */
export function deferUnread(
  chosen: Plan<DueTarget>,
  cycleMs: number,
  timing: RoundTiming,
): Map<string, number> {
  const { now, tickMs } = timing;
  const due = new Map<string, number>();
  for (const target of chosen.held)
    due.set(target.watchId, now + Math.max(tickMs, target.watch.interval / 2));
  for (const target of chosen.waiting) {
    due.set(target.watchId, Math.min(target.watch.scheduledAt, now + Math.max(tickMs, cycleMs / 2)));
  }
  return due;
}

/**
 * After the account listing's pages: a target seen is done; one the pages should have held but
 * did not is searched for again next round (its recorded place forgotten), and left to its own
 * GET after `MAX_MISSED_ROUNDS` such rounds; one not reached waits for the next round; the rest
 * (the listing failed) GET themselves. `forget`: action ids whose recorded place is stale.
 */
export function settleAccountTargets(
  targets: readonly DueTarget[],
  result: AccountSweepResult,
  missedRounds: MissedRounds,
  timing: RoundTiming,
): Settlement & { forget: number[] } {
  const settled: Settlement & { forget: number[] } = { seen: 0, direct: [], due: new Map(), forget: [] };
  const next = timing.now + timing.tickMs;
  for (const target of targets) {
    if (result.covered.has(target.actionId)) {
      settled.seen++;
      missedRounds.seen(target.watchId);
    } else if (result.gaveUp.has(target.actionId) && result.failure === undefined) {
      // Its recorded place is stale, or the estimate was off: look again next round with the
      // anchors these pages left, and give it its own GET only if that keeps failing.
      settled.forget.push(target.actionId);
      if (missedRounds.miss(target.watchId) === 'give-up') settled.direct.push(target.watchId);
      else settled.due.set(target.watchId, next);
    } else if (result.notReached.has(target.actionId) && result.failure === undefined) {
      // Next round (held while the budget is out, then likely a GET if alone on its page).
      settled.due.set(target.watchId, next);
    } else settled.direct.push(target.watchId);
  }
  return settled;
}

/**
 * After one resource's list: a target it showed is done; with the budget out, it waits for the
 * next round; otherwise (not on the list, or the list failed) it GETs itself.
 */
export function settleResourceTargets(
  targets: readonly DueTarget[],
  seen: ReadonlySet<number> | 'out-of-budget' | undefined,
  timing: RoundTiming,
): Settlement {
  const settled: Settlement = { seen: 0, direct: [], due: new Map() };
  for (const target of targets) {
    if (seen === 'out-of-budget') settled.due.set(target.watchId, timing.now + timing.tickMs);
    else if (seen?.has(target.actionId)) settled.seen++;
    else settled.direct.push(target.watchId);
  }
  return settled;
}
