import { DelayedError, type Job } from 'bullmq';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import type { ActionObserver } from '../src/watches/action-observer.js';
import type { OutcomeStore } from '../src/watches/outcome-store.js';
import type { OutcomeRecord, WatchData } from '../src/watches/watch.js';
import { WatchProcessor } from '../src/watches/watch-processor.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const ID = 'image-7-42';

const inProgress: Action = {
  id: 42,
  status: 'in-progress',
  type: 'transfer',
  started_at: new Date(T0).toISOString(),
  completed_at: null,
  resource_id: 7,
  resource_type: 'image',
  region: { name: 'New York 3', slug: 'nyc3', sizes: [], features: [], available: true },
  region_slug: 'nyc3',
};

const cancelled: OutcomeRecord = {
  type: 'action.cancelled',
  outcome: 'cancelled',
  watch: {
    id: ID,
    kind: 'image',
    resourceId: 7,
    actionId: 42,
    enqueuedAt: new Date(T0).toISOString(),
    finishedAt: new Date(T0).toISOString(),
    polls: 1,
  },
  action: null,
  reason: 'cancelled by request',
};

/** A processor over fakes that count what each step reads and where it parks the job. */
function harness(options: { recorded?: OutcomeRecord; dueAt?: number; now?: number }) {
  let now = options.now ?? T0;
  let recorded = options.recorded;
  const calls = { outcomeReads: 0, polls: 0 };
  const outcomes = {
    get: async () => {
      calls.outcomeReads += 1;
      return recorded;
    },
    record: async (record: OutcomeRecord) => ({ created: true, record, eventId: '1-0' }),
  } as unknown as OutcomeStore;
  const observer: ActionObserver = {
    observe: async () => {
      calls.polls += 1;
      return { found: true, action: inProgress };
    },
  };
  const processor = new WatchProcessor({
    observer,
    outcomes,
    schedule: { firstDelayMs: 0, minIntervalMs: 2_000, maxIntervalMs: 60_000, ageFactor: 0.1, jitter: 0 },
    logger: pino({ level: 'silent' }),
    now: () => now,
    random: () => 0.5,
  });
  const job = {
    id: ID,
    data: {
      kind: 'image',
      resourceId: 7,
      actionId: 42,
      enqueuedAt: new Date(T0).toISOString(),
      deadlineAt: T0 + 3_600_000,
      polls: 0,
      action: null,
      ...(options.dueAt === undefined ? {} : { dueAt: options.dueAt }),
    } as WatchData,
    parkedAt: undefined as number | undefined,
    async updateData(data: WatchData) {
      this.data = data;
    },
    async moveToDelayed(timestamp: number) {
      this.parkedAt = timestamp;
    },
  };
  return {
    calls,
    job,
    run: () => processor.process(job as unknown as Job<WatchData, OutcomeRecord>, 'token'),
    setNow: (ms: number) => {
      now = ms;
    },
    setRecorded: (record: OutcomeRecord | undefined) => {
      recorded = record;
    },
  };
}

describe('WatchProcessor: reading the outcome around a poll', () => {
  it('a first step reads the outcome, polls, and parks the job with the time planned for the next', async () => {
    const h = harness({});
    await expect(h.run()).rejects.toBeInstanceOf(DelayedError);
    expect(h.calls).toEqual({ outcomeReads: 2, polls: 1 });
    expect(h.job.data.dueAt).toBe(T0 + 2_000);
    expect(h.job.parkedAt).toBe(T0 + 2_000);
  });

  it('a step that runs on time polls without reading first; the read after the poll stays', async () => {
    const h = harness({ dueAt: T0 });
    h.setNow(T0 + 5);
    await expect(h.run()).rejects.toBeInstanceOf(DelayedError);
    expect(h.calls).toEqual({ outcomeReads: 1, polls: 1 });
    expect(h.job.data.polls).toBe(1);
  });

  it('a step promoted early (a cancel) reads the outcome first and ends with it, without polling', async () => {
    const h = harness({ dueAt: T0 + 30_000, recorded: cancelled });
    await expect(h.run()).resolves.toEqual(cancelled);
    expect(h.calls).toEqual({ outcomeReads: 1, polls: 0 });
  });

  it('a cancel during the poll wakes the job at once, and that step ends with the outcome', async () => {
    const h = harness({ dueAt: T0 });
    h.setNow(T0 + 5);
    h.setRecorded(cancelled);
    await expect(h.run()).rejects.toBeInstanceOf(DelayedError);
    expect(h.job.parkedAt).toBe(T0 + 5);
    expect(h.calls).toEqual({ outcomeReads: 1, polls: 1 });
    // It runs again at once, well before the time planned: it reads first and does not poll.
    await expect(h.run()).resolves.toEqual(cancelled);
    expect(h.calls).toEqual({ outcomeReads: 2, polls: 1 });
  });

  it('keeps only what a waiting watch needs of the action between polls', async () => {
    const h = harness({});
    await expect(h.run()).rejects.toBeInstanceOf(DelayedError);
    expect(h.job.data.action).toEqual({
      id: 42,
      status: 'in-progress',
      type: 'transfer',
      started_at: inProgress.started_at,
      resource_id: 7,
      resource_type: 'image',
      region_slug: 'nyc3',
    });
  });
});
