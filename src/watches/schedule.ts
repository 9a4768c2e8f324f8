import type { PollSchedule } from '../config/config.js';
import type { Action } from '../digitalocean/models.js';

/**
 * How old the action is: from its `started_at` when the API gave one, else from when we started
 * watching. Long transfers are young for seconds and old for hours, so the interval follows age.
 */
export function actionAgeMs(action: Action | null, enqueuedAt: string, nowMs: number): number {
  const started = action?.started_at ? Date.parse(action.started_at) : Number.NaN;
  const origin = Number.isNaN(started) ? Date.parse(enqueuedAt) : Math.min(started, Date.parse(enqueuedAt));
  return Math.max(0, nowMs - origin);
}

/** The interval before the next poll: age × factor within [min, max], before jitter. */
export function baseInterval(schedule: PollSchedule, ageMs: number): number {
  return Math.min(schedule.maxIntervalMs, Math.max(schedule.minIntervalMs, ageMs * schedule.ageFactor));
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
