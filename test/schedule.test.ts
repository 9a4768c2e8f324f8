import { describe, expect, it } from 'vitest';
import type { PollSchedule } from '../src/config/config.js';
import {
  actionAgeMs,
  afterBudgetWait,
  baseInterval,
  batchedBudgetRetry,
  chainCheckDelay,
  intervalFor,
  nextPollDelay,
  pollDelay,
  pollsWithin,
  SCHEDULED_CADENCE,
  sweepInterval,
  untilDeadline,
} from '../src/watches/schedule.js';

const schedule: PollSchedule = {
  firstDelayMs: 0,
  minIntervalMs: 2000,
  maxIntervalMs: 60_000,
  ageFactor: 0.1,
  jitter: 0.1,
};

describe('poll schedule', () => {
  it('grows with the action age between the bounds', () => {
    expect(baseInterval(schedule, 0)).toBe(2000);
    expect(baseInterval(schedule, 50_000)).toBe(5000);
    expect(baseInterval(schedule, 300_000)).toBe(30_000);
    expect(baseInterval(schedule, 3_600_000)).toBe(60_000);
  });

  it('adds at most ± jitter', () => {
    expect(nextPollDelay(schedule, 300_000, () => 0)).toBe(27_000);
    expect(nextPollDelay(schedule, 300_000, () => 1)).toBe(33_000);
    expect(nextPollDelay(schedule, 300_000, () => 0.5)).toBe(30_000);
  });

  it('measures age from started_at when the API gives it, else from enqueue', () => {
    const now = Date.parse('2026-01-01T01:00:00Z');
    const enqueuedAt = '2026-01-01T00:59:00Z';
    expect(actionAgeMs(null, enqueuedAt, now)).toBe(60_000);
    const action = { id: 1, status: 'in-progress', started_at: '2026-01-01T00:00:00Z' };
    expect(actionAgeMs(action, enqueuedAt, now)).toBe(3_600_000);
    expect(actionAgeMs({ id: 1, status: 'in-progress', started_at: 'garbage' }, enqueuedAt, now)).toBe(
      60_000,
    );
  });

  it('reads a time as epoch ms or as the ISO string a stored watch keeps, to the same age', () => {
    const now = Date.parse('2026-01-01T01:00:00Z');
    const enqueuedAt = '2026-01-01T00:59:00Z';
    expect(actionAgeMs(null, Date.parse(enqueuedAt), now)).toBe(actionAgeMs(null, enqueuedAt, now));
    expect(intervalFor(schedule, null, enqueuedAt, now)).toBe(baseInterval(schedule, 60_000));
    expect(intervalFor(schedule, null, Date.parse(enqueuedAt), now)).toBe(6000);
  });
});

describe('when a watch looks next', () => {
  const now = Date.parse('2026-01-01T01:00:00Z');
  const enqueuedAt = now - 300_000;

  it('a watch polling by itself: the jittered interval, waking at its deadline rather than after it', () => {
    const watch = { action: null, enqueuedAt, deadlineAt: now + 3_600_000 };
    expect(pollDelay(schedule, watch, now, () => 1)).toBe(33_000);
    expect(pollDelay(schedule, { ...watch, deadlineAt: now + 10_000 }, now, () => 1)).toBe(10_000);
    expect(pollDelay(schedule, { ...watch, deadlineAt: now - 5 }, now, () => 1)).toBe(1);
    expect(untilDeadline(4000, now + 2500, now)).toBe(2500);
    expect(untilDeadline(4000, now + 9000, now)).toBe(4000);
  });

  it('after the budget refused a request: its wait, spread over a second (batched: within the sleep)', () => {
    expect(afterBudgetWait(3000, () => 0.5)).toBe(3500);
    expect(batchedBudgetRetry(schedule, 500, 60_000, () => 0)).toBe(2000);
    expect(batchedBudgetRetry(schedule, 10_000, 60_000, () => 1)).toBe(11_000);
    expect(batchedBudgetRetry(schedule, 10_000, 5000, () => 1)).toBe(5000);
  });

  it('the sweeper: the schedule, or as often as a pass allows while the budget has plenty to spare', () => {
    expect(sweepInterval(schedule, SCHEDULED_CADENCE, null, enqueuedAt, now)).toBe(30_000);
    expect(sweepInterval(schedule, { spare: false, cycleMs: 4000 }, null, enqueuedAt, now)).toBe(30_000);
    expect(sweepInterval(schedule, { spare: true, cycleMs: 4000 }, null, enqueuedAt, now)).toBe(4000);
    expect(sweepInterval(schedule, { spare: true, cycleMs: 90_000 }, null, enqueuedAt, now)).toBe(30_000);
  });

  it('a chain step: a tenth of its running time, within the minimum interval and 5 s', () => {
    expect(chainCheckDelay(schedule, undefined, now)).toBe(2000);
    expect(chainCheckDelay(schedule, 'garbage', now)).toBe(2000);
    expect(chainCheckDelay(schedule, new Date(now - 30_000).toISOString(), now)).toBe(3000);
    expect(chainCheckDelay(schedule, now - 30_000, now)).toBe(3000);
    expect(chainCheckDelay(schedule, now - 3_600_000, now)).toBe(5000);
  });
});

describe("pollsWithin (the dry run's estimate)", () => {
  it('counts the first poll, one per interval while the action runs, and the one that sees it ended', () => {
    expect(pollsWithin(schedule, 0)).toBe(1);
    // 0, 2, 4, …, 20 s: the minimum interval while the age is under 20 s.
    expect(pollsWithin(schedule, 20_000)).toBe(11);
    expect(pollsWithin(schedule, 20_001)).toBe(12);
    // At the maximum interval, an hour more is 60 more polls.
    expect(pollsWithin(schedule, 7_200_000) - pollsWithin(schedule, 3_600_000)).toBe(60);
    expect(pollsWithin({ ...schedule, firstDelayMs: 5_000 }, 4_000)).toBe(1);
  });
});
