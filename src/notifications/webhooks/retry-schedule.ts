/**
 * When a failed webhook delivery is tried again. Delays double from `baseDelayMs` up to
 * `maxDelayMs`; each is stretched by up to `jitter` (never shortened), so the nominal delays are
 * a lower bound and a message is given up only after at least `spanMs` of retrying.
 */
export interface RetrySchedule {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Each delay is nominal × (1 + jitter × random): spreads out messages that failed together. */
  jitter: number;
  /** Retrying lasts at least this long (WEBHOOK_RETRY_SPAN, 24h by default). */
  spanMs: number;
  /** Attempts a message gets while its target answers 4xx (other than 408, 410, 429). */
  clientErrorAttempts: number;
}

export const DEFAULT_RETRY_SCHEDULE: Omit<RetrySchedule, 'spanMs'> = {
  baseDelayMs: 5_000,
  maxDelayMs: 3_600_000,
  jitter: 0.2,
  clientErrorAttempts: 3,
};

export function retrySchedule(spanMs: number, overrides: Partial<RetrySchedule> = {}): RetrySchedule {
  const schedule = { ...DEFAULT_RETRY_SCHEDULE, spanMs, ...overrides };
  if (schedule.baseDelayMs <= 0 || schedule.maxDelayMs < schedule.baseDelayMs)
    throw new Error('retry schedule: need 0 < baseDelayMs <= maxDelayMs');
  if (schedule.jitter < 0 || schedule.spanMs < 0 || schedule.clientErrorAttempts < 1)
    throw new Error('retry schedule: jitter and spanMs must be >= 0, clientErrorAttempts >= 1');
  return schedule;
}

/** The delay before retry number `retry` (1 = the first retry), without jitter. */
export function nominalDelay(schedule: RetrySchedule, retry: number): number {
  return Math.min(schedule.maxDelayMs, schedule.baseDelayMs * 2 ** Math.min(retry - 1, 40));
}

/** Attempts in all: the first plus as many retries as it takes for their delays to cover the span. */
export function maxAttempts(schedule: RetrySchedule): number {
  let covered = 0;
  let retries = 0;
  while (covered < schedule.spanMs) {
    retries += 1;
    covered += nominalDelay(schedule, retries);
  }
  return retries + 1;
}

/**
 * The wait after `attemptsMade` failed attempts. A receiver's Retry-After is honoured as a
 * minimum (bounded by the span, so a silly value cannot park a message forever).
 */
export function retryDelay(
  schedule: RetrySchedule,
  attemptsMade: number,
  random: () => number = Math.random,
  retryAfterMs?: number,
): number {
  const scheduled = nominalDelay(schedule, attemptsMade) * (1 + schedule.jitter * random());
  const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, Math.max(schedule.spanMs, 1000));
  return Math.round(Math.max(scheduled, asked));
}
