import type { PollSchedule } from '../../src/config/config.js';
import { nextPollDelay } from '../../src/watches/schedule.js';
import { seededRandom } from '../support/actions.js';
import type { PlannedAction } from './workload.js';

export interface BaselineEstimate {
  /** GETs one watch per action makes at the core's schedule, all actions together. */
  requests: number;
  /** Detection latency of each action: its first poll after it ended, minus when it ended. */
  latenciesMs: number[];
}

/**
 * One GET per poll at the core's schedule, replayed exactly rather than run: the first poll at
 * POLL_FIRST_DELAY after the watch starts (with the action), each next one after the schedule's
 * jittered interval for the action's age, until the first poll that sees it ended. It is what the
 * direct observer sends when nothing slows it down (no rate limit, no queueing).
 */
export function replayDirectPolling(
  actions: readonly PlannedAction[],
  schedule: PollSchedule,
): BaselineEstimate {
  const random = seededRandom(7);
  let requests = 0;
  const latenciesMs: number[] = [];
  for (const action of actions) {
    let age = schedule.firstDelayMs;
    for (;;) {
      requests++;
      if (age >= action.durationMs) break;
      age += nextPollDelay(schedule, age, random);
    }
    latenciesMs.push(age - action.durationMs);
  }
  return { requests, latenciesMs };
}

/**
 * A fixed poll, as `doctl … --wait` does (every 5 s, from the action's start, until the first
 * poll that sees it ended), replayed over the same actions.
 */
export function replayFixedPolling(actions: readonly PlannedAction[], intervalMs: number): BaselineEstimate {
  let requests = 0;
  const latenciesMs: number[] = [];
  for (const action of actions) {
    const polls = Math.ceil(action.durationMs / intervalMs);
    requests += polls + 1;
    latenciesMs.push(polls * intervalMs - action.durationMs);
  }
  return { requests, latenciesMs };
}
