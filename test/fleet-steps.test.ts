import { describe, expect, it } from 'vitest';
import type { PollSchedule } from '../src/config/config.js';
import type { ActionPage } from '../src/digitalocean/client.js';
import type { Action } from '../src/digitalocean/models.js';
import { ForbiddenError, TransientError } from '../src/errors/digitalocean-api-error.js';
import type { AccountSweepResult } from '../src/fleet/account-sweep.js';
import {
  type DueContext,
  type DueFacts,
  type DueTarget,
  type DueWatch,
  refsOf,
  sortDue,
  worthOf,
} from '../src/fleet/due-watches.js';
import { ListHealth } from '../src/fleet/list-health.js';
import { PER_PAGE, parseListingSnapshot } from '../src/fleet/list-reader.js';
import { ListingModel } from '../src/fleet/listing-model.js';
import { MAX_MISSED_ROUNDS, MissedRounds } from '../src/fleet/missed-rounds.js';
import type { Observation } from '../src/fleet/observation-store.js';
import { estimatePages } from '../src/fleet/page-estimates.js';
import { afterSeen, watchedOn } from '../src/fleet/page-recorder.js';
import { plan } from '../src/fleet/planner.js';
import { deferUnread, settleAccountTargets, settleResourceTargets } from '../src/fleet/round-settlement.js';
import { SweepPacer } from '../src/fleet/sweep-pacer.js';
import type { Registration } from '../src/fleet/watch-registry.js';
import { WatchedActions } from '../src/fleet/watched-actions.js';
import { SCHEDULED_CADENCE } from '../src/watches/schedule.js';
import { budgetUsage } from './support/budget-usage.js';

const schedule: PollSchedule = {
  firstDelayMs: 0,
  minIntervalMs: 2000,
  maxIntervalMs: 60_000,
  ageFactor: 0.1,
  jitter: 0.1,
};
const NOW = 1_800_000_000_000;
const TICK = 1000;
const SLEEP = 600_000;

/** Durations that say nothing: an action has ended with probability 0.25 whenever asked. */
const odds = {
  endedBy: () => 0.25,
  endedSince: () => 0.5,
};

function context(overrides: Partial<DueContext> = {}): DueContext {
  return {
    now: NOW,
    apiNow: NOW,
    tickMs: TICK,
    sleepMs: SLEEP,
    schedule,
    cadence: SCHEDULED_CADENCE,
    odds,
    ...overrides,
  };
}

function entry(overrides: Partial<Registration> = {}): Registration {
  return {
    enqueuedAt: NOW - 300_000,
    deadlineAt: NOW + 3_600_000,
    wakeAt: NOW + SLEEP,
    givenAt: 0,
    ...overrides,
  };
}

function running(id: number, resourceId = 10, extra: Partial<Action> = {}): Action {
  return {
    id,
    status: 'in-progress',
    resource_id: resourceId,
    resource_type: 'droplet',
    type: 'reboot',
    ...extra,
  };
}

function seenAt(action: Action, observedAt: number): Observation {
  return { action, observedAt, apiObservedAt: observedAt, via: 'list' };
}

function facts(parts: Partial<DueFacts> & { ids: string[] }): DueFacts {
  return {
    refs: refsOf(parts.ids),
    entries: parts.entries ?? new Map(parts.ids.map((id) => [id, entry()])),
    directs: parts.directs ?? new Map(),
    outcomes: parts.outcomes ?? new Set(),
    observations: parts.observations ?? new Map(),
  };
}

function dueWatch(watchId: string, overrides: Partial<DueWatch> = {}): DueWatch {
  const ref = refsOf([watchId]).get(watchId);
  if (ref === undefined) throw new Error(`not a watch id: ${watchId}`);
  return {
    watchId,
    ref,
    entry: entry(),
    observation: undefined,
    interval: 30_000,
    scheduledAt: NOW,
    ...overrides,
  };
}

function target(watch: DueWatch, overrides: Partial<DueTarget> = {}): DueTarget {
  return {
    watchId: watch.watchId,
    actionId: watch.ref.actionId,
    kind: watch.ref.kind,
    resourceId: watch.ref.resourceId,
    value: 1,
    page: undefined,
    directOnly: false,
    watch,
    ...overrides,
  };
}

describe('sorting the due watches: what a round does with each, from what Redis holds', () => {
  it('forgets watches with no registration, a recorded outcome, an unparseable id or a job long gone', () => {
    const ids = ['droplet-10-1', 'droplet-10-2', 'droplet-10-3', 'nonsense'];
    const entries = new Map([
      ['droplet-10-2', entry()],
      ['droplet-10-3', entry({ wakeAt: NOW - 2 * SLEEP - 1 })],
      ['nonsense', entry()],
    ]);
    const sorting = sortDue(ids, facts({ ids, entries }), context());
    expect(sorting.gone).toEqual(['droplet-10-1', 'droplet-10-3', 'nonsense']);
    expect(sorting.targets).toHaveLength(1);
    const recorded = sortDue(ids, facts({ ids, entries, outcomes: new Set(['droplet-10-2']) }), context());
    expect(recorded.gone).toContain('droplet-10-2');
    expect(recorded.targets).toHaveLength(0);
  });

  it('promotes a watch whose action was seen ended, but never on an answer about another resource', () => {
    const ids = ['droplet-10-1', 'droplet-11-2'];
    const observations = new Map([
      [1, seenAt(running(1, 10, { status: 'completed' }), NOW - 1000)],
      [2, seenAt(running(2, 99, { status: 'completed' }), NOW - 1000)],
    ]);
    const sorting = sortDue(ids, facts({ ids, observations }), context());
    expect(sorting.ended).toEqual(['droplet-10-1']);
    // Seen only under another resource: only its own GET can resolve it.
    expect(sorting.targets.map((t) => [t.watchId, t.directOnly])).toEqual([['droplet-11-2', true]]);
  });

  it('moves on without a request a watch past its deadline, observed recently, or polling by itself', () => {
    const ids = ['droplet-10-1', 'droplet-10-2', 'droplet-10-3'];
    const entries = new Map([
      ['droplet-10-1', entry({ deadlineAt: NOW })],
      ['droplet-10-2', entry()],
      ['droplet-10-3', entry()],
    ]);
    // Five minutes old: a 30 s interval. Seen 10 s ago, it is next due in 20 s.
    const observations = new Map([[2, seenAt(running(2), NOW - 10_000)]]);
    const directs = new Map([['droplet-10-3', NOW + 5000]]);
    const sorting = sortDue(ids, facts({ ids, entries, observations, directs }), context());
    expect([...sorting.due]).toEqual([
      ['droplet-10-1', NOW + SLEEP],
      ['droplet-10-2', NOW + 20_000],
      ['droplet-10-3', NOW + 5000],
    ]);
    expect(sorting.targets).toHaveLength(0);
  });

  it('makes a target of a watch due, early when the budget lets it be looked at before its schedule', () => {
    const ids = ['droplet-10-1', 'droplet-10-2'];
    const observations = new Map([[2, seenAt(running(2), NOW - 10_000)]]);
    const scheduled = sortDue(ids, facts({ ids, observations }), context());
    expect(scheduled.targets.map((t) => t.watchId)).toEqual(['droplet-10-1']);
    const spare = sortDue(
      ids,
      facts({ ids, observations }),
      context({ cadence: { spare: true, cycleMs: 4000 } }),
    );
    const [never, seen] = spare.targets;
    expect(never).toMatchObject({ watchId: 'droplet-10-1', early: false, value: 1.25, page: undefined });
    expect(never?.watch).toMatchObject({ interval: 4000, scheduledAt: NOW });
    // Seen 10 s ago with 20 s to go on its schedule: early. With no start known, worth the chance
    // it ended by its age; the delay a look ends is that times half the 10 s since.
    expect(seen).toMatchObject({ watchId: 'droplet-10-2', early: true, value: 0.25, delayS: 1.25 });
    expect(seen?.watch).toMatchObject({ interval: 4000, scheduledAt: NOW + 20_000 });
  });

  it('weighs a look by the chance the action ended since it was last seen running', () => {
    const learned = {
      endedBy: () => 0.2,
      endedSince: (_k: string, _t: unknown, last: number, now: number) => (now - last) / 100_000,
    };
    const watch = dueWatch('droplet-10-1');
    expect(worthOf(watch, context({ odds: learned }))).toBe(1.2);
    const started = new Date(NOW - 60_000).toISOString();
    const observed = { ...watch, observation: seenAt(running(1, 10, { started_at: started }), NOW - 20_000) };
    expect(worthOf(observed, context({ odds: learned }))).toBeCloseTo(0.2, 9);
    const noStart = { ...watch, observation: seenAt(running(1), NOW - 20_000) };
    expect(worthOf(noStart, context({ odds: learned }))).toBe(0.2);
  });
});

describe('page estimates', () => {
  it('reads page 1 while the listing order is unknown, except for targets only a GET sees', () => {
    const model = new ListingModel(200);
    const targets = [
      target(dueWatch('droplet-10-1')),
      target(dueWatch('droplet-10-2'), { directOnly: true }),
    ];
    estimatePages(targets, model, new Map(), NOW);
    expect(targets.map((t) => t.page)).toEqual([1, undefined]);
  });

  it('places targets by their recorded positions, and leaves those not listed to their GET', () => {
    const model = new ListingModel(200);
    const actions = Array.from({ length: 200 }, (_, i) => running(1000 - i));
    const page: ActionPage = { actions, total: 1000, page: 1, perPage: 200, links: { next: 'p2' } };
    model.learn(page, NOW);
    const targets = [target(dueWatch('droplet-10-500')), target(dueWatch('droplet-10-990'))];
    estimatePages(targets, model, new Map([[500, 499]]), NOW);
    expect(targets.map((t) => t.page)).toEqual([3, 1]);
    const absent = [target(dueWatch('droplet-10-995'))];
    estimatePages(absent, model, new Map(), NOW);
    expect(absent[0]?.page).toBe(1);
  });
});

const usage = budgetUsage;

describe('the kept listing model', () => {
  it('reads back what a model learned, and nothing from a record that is not a snapshot', () => {
    const model = new ListingModel(PER_PAGE);
    const actions = Array.from({ length: 200 }, (_, i) => running(1000 - i));
    model.learn({ actions, total: 1000, page: 1, perPage: PER_PAGE, links: { next: 'p2' } }, NOW);
    const kept = parseListingSnapshot(JSON.stringify(model.snapshot()));
    expect(kept).toEqual(model.snapshot());
    expect(new ListingModel(PER_PAGE, kept).estimatePages([{ actionId: 990 }], NOW)).toEqual(
      model.estimatePages([{ actionId: 990 }], NOW),
    );
    const blank = new ListingModel(PER_PAGE).snapshot();
    expect(parseListingSnapshot(JSON.stringify(blank))).toEqual(blank);
    expect(parseListingSnapshot('{')).toBeUndefined();
    expect(
      parseListingSnapshot(JSON.stringify({ order: 'sideways', orderSeenAt: 0, anchors: [] })),
    ).toBeUndefined();
    expect(parseListingSnapshot(JSON.stringify({ orderSeenAt: 0, anchors: [[1, 2]] }))).toBeUndefined();
  });
});

describe('sweep pacer: the budget of a round, and the cadence it leaves', () => {
  const pacer = () =>
    new SweepPacer({
      schedule,
      tickMs: TICK,
      reservedForOthers: 0,
      learner: { remainingMs: () => 60_000 },
      apiClock: () => NOW,
      startedAt: { wall: NOW, api: NOW },
    });

  it('counts a pass as the pages watched lately plus the watches only a GET sees', () => {
    const sweep = pacer();
    expect(sweep.cadence).toEqual(SCHEDULED_CADENCE);
    const targets = [
      target(dueWatch('droplet-10-1'), { page: 1 }),
      target(dueWatch('droplet-10-2'), { page: 1 }),
      target(dueWatch('droplet-10-3'), { page: 4 }),
      target(dueWatch('droplet-10-4'), { directOnly: true }),
    ];
    const first = sweep.pace(targets, usage(), NOW, NOW);
    expect(first.passRequests).toBe(3);
    // The burst holds 375 (five minutes of the hour), the minute only 225.
    expect(first).toMatchObject({ pace: 'burst', perMinute: 225, allowance: 225, minWorth: 0 });
    expect(first.boundMs).toBeCloseTo((3 / 225) * 60_000, 6);
    // Most of the burst is left: watches may be looked at as often as a pass allows, not below the minimum.
    expect(first.cadence).toEqual({ spare: true, cycleMs: 2000 });
    expect(sweep.cadence).toBe(first.cadence);
    // Page 4 still counts a round later (it held watches within the longest interval).
    const second = sweep.pace(
      [target(dueWatch('droplet-10-5'), { page: 2 })],
      usage(),
      NOW + 1000,
      NOW + 1000,
    );
    expect(second.passRequests).toBe(3);
    const later = sweep.pace([], usage(), NOW + 61_001, NOW + 61_001);
    expect(later.passRequests).toBe(0);
  });

  it('gives nothing while the budget is paused, and the allowance shrinks with what is spent', () => {
    const sweep = pacer();
    const targets = [target(dueWatch('droplet-10-1'), { page: 1 })];
    expect(sweep.pace(targets, usage({ pausedUntil: NOW + 5000 }), NOW, NOW).allowance).toBe(0);
    sweep.spend(300);
    const spent = sweep.pace(targets, usage(), NOW, NOW);
    expect(spent.allowance).toBe(75);
    expect(spent.cadence.spare).toBe(false);
    expect(spent.minWorth).toBeGreaterThan(0);
  });
});

describe('list health: lists rest after failures, and a refused token is kept', () => {
  it('backs off from ten ticks, doubling per failure in a row, at most five minutes', () => {
    const health = new ListHealth(TICK);
    expect(health.listsUsable(NOW)).toBe(true);
    expect(health.listsFailed(new TransientError('boom'), NOW)).toBe(10_000);
    expect(health.listsUsable(NOW + 9_999)).toBe(false);
    expect(health.listsUsable(NOW + 10_000)).toBe(true);
    expect(health.listsFailed(new Error('boom'), NOW)).toBe(20_000);
    for (let i = 0; i < 10; i++) health.listsFailed(new Error('boom'), NOW);
    expect(health.listsFailed(new Error('boom'), NOW)).toBe(300_000);
    health.listsRead();
    expect(health.listsFailed(new Error('boom'), NOW)).toBe(10_000);
    expect(health.refused).toBeUndefined();
  });

  it('rests resource lists on their own failure, and keeps the first refusal', () => {
    const health = new ListHealth(TICK);
    health.resourceListFailed(new ForbiddenError('no actions scope'), NOW);
    expect(health.resourceListsUsable(NOW + 9_999)).toBe(false);
    expect(health.resourceListsUsable(NOW + 10_000)).toBe(true);
    expect(health.listsUsable(NOW)).toBe(true);
    health.listsFailed(new ForbiddenError('another'), NOW);
    expect(health.refused).toContain('no actions scope');
  });
});

function sweepResult(overrides: Partial<AccountSweepResult> = {}): AccountSweepResult {
  return {
    reads: 1,
    covered: new Set(),
    absent: new Set(),
    gaveUp: new Set(),
    notReached: new Set(),
    ...overrides,
  };
}

describe('settling a round: when each target comes due again, or whether it GETs', () => {
  const timing = { now: NOW, tickMs: TICK };

  it('defers held targets half an interval and waiting ones to their schedule or half a pass', () => {
    const held = target(dueWatch('droplet-10-1', { interval: 30_000 }));
    const shortHeld = target(dueWatch('droplet-10-2', { interval: 1000 }));
    const waitingSoon = target(dueWatch('droplet-10-3', { scheduledAt: NOW + 1500 }));
    const waitingLate = target(dueWatch('droplet-10-4', { scheduledAt: NOW + 90_000 }));
    const chosen = plan<DueTarget>({ targets: [], allowance: 0, resourceLists: false });
    chosen.held.push(held, shortHeld);
    chosen.waiting.push(waitingSoon, waitingLate);
    expect([...deferUnread(chosen, 8000, timing)]).toEqual([
      ['droplet-10-1', NOW + 15_000],
      ['droplet-10-2', NOW + TICK],
      ['droplet-10-3', NOW + 1500],
      ['droplet-10-4', NOW + 4000],
    ]);
  });

  it('searches again for a target the pages missed, and leaves it to its GET after three rounds', () => {
    const missed = new MissedRounds();
    const targets = [
      target(dueWatch('droplet-10-1')),
      target(dueWatch('droplet-10-2')),
      target(dueWatch('droplet-10-3')),
      target(dueWatch('droplet-10-4')),
    ];
    const result = sweepResult({ covered: new Set([1]), gaveUp: new Set([2]), notReached: new Set([3]) });
    for (let round = 1; round < MAX_MISSED_ROUNDS; round++) {
      const settled = settleAccountTargets(targets, result, missed, timing);
      expect(settled).toEqual({
        seen: 1,
        direct: ['droplet-10-4'],
        due: new Map([
          ['droplet-10-2', NOW + TICK],
          ['droplet-10-3', NOW + TICK],
        ]),
        forget: [2],
      });
    }
    const last = settleAccountTargets(targets, result, missed, timing);
    expect(last.direct).toEqual(['droplet-10-2', 'droplet-10-4']);
    expect(last.forget).toEqual([2]);
    // The count restarts once it GETs, and a sighting clears it.
    expect(missed.miss('droplet-10-2')).toBe('search-again');
    missed.seen('droplet-10-2');
    expect(missed.miss('droplet-10-2')).toBe('search-again');
    expect(missed.miss('droplet-10-2')).toBe('search-again');
    expect(missed.miss('droplet-10-2')).toBe('give-up');
  });

  it('after a failed listing, every target not seen GETs itself', () => {
    const targets = [target(dueWatch('droplet-10-2')), target(dueWatch('droplet-10-3'))];
    const result = sweepResult({ gaveUp: new Set([2]), notReached: new Set([3]), failure: new Error('x') });
    const settled = settleAccountTargets(targets, result, new MissedRounds(), timing);
    expect(settled).toEqual({
      seen: 0,
      direct: ['droplet-10-2', 'droplet-10-3'],
      due: new Map(),
      forget: [],
    });
  });

  it('after a resource list: seen, next round when out of budget, else its own GET', () => {
    const targets = [target(dueWatch('droplet-10-1')), target(dueWatch('droplet-10-2'))];
    expect(settleResourceTargets(targets, new Set([1]), timing)).toEqual({
      seen: 1,
      direct: ['droplet-10-2'],
      due: new Map(),
    });
    expect(settleResourceTargets(targets, 'out-of-budget', timing).due).toEqual(
      new Map([
        ['droplet-10-1', NOW + TICK],
        ['droplet-10-2', NOW + TICK],
      ]),
    );
    expect(settleResourceTargets(targets, undefined, timing).direct).toEqual([
      'droplet-10-1',
      'droplet-10-2',
    ]);
  });
});

describe('recording a page', () => {
  it('keeps only actions some watch of that id would take', () => {
    const watched = new Map([
      [1, ['droplet-10-1']],
      [2, ['droplet-10-2']],
    ]);
    const page = [running(1, 10), running(2, 99), running(3, 10)];
    expect(watchedOn(page, watched).map((action) => action.id)).toEqual([1]);
  });

  it('finishes watches whose action ended and moves the others a full interval on', () => {
    const seen = [running(1, 10, { status: 'completed' }), running(2, 10), running(3, 10)];
    const entries = new Map([['droplet-10-2', entry()]]);
    const next = afterSeen(
      seen,
      ['droplet-10-1', 'droplet-10-2', 'droplet-10-3', 'droplet-99-2'],
      (watchId) => entries.get(watchId),
      () => 30_000,
    );
    expect(next.finished).toEqual(['droplet-10-1']);
    // droplet-10-3 is not registered any more; droplet-99-2 watches another resource.
    expect([...next.intervals]).toEqual([['droplet-10-2', 30_000]]);
  });

  it('reads the watched set at most once a second, with the round’s due watches added', async () => {
    let reads = 0;
    const registry = {
      watchIds: async () => {
        reads++;
        return ['droplet-10-1', 'image-5-1', 'not-a-watch'];
      },
    };
    const watched = new WatchedActions(registry);
    expect(await watched.get(NOW, [])).toEqual(new Map([[1, ['droplet-10-1', 'image-5-1']]]));
    const withDue = await watched.get(NOW + 500, [dueWatch('droplet-10-7')]);
    expect(reads).toBe(1);
    expect(withDue.get(7)).toEqual(['droplet-10-7']);
    await watched.get(NOW + 1000, []);
    expect(reads).toBe(2);
    watched.forget();
    await watched.get(NOW + 1001, []);
    expect(reads).toBe(3);
  });
});
