import { describe, expect, it } from 'vitest';
import type { PollSchedule } from '../src/config/config.js';
import { actionAgeMs, baseInterval, nextPollDelay } from '../src/watches/schedule.js';

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
});
