import { afterAll, describe, expect, it } from 'vitest';
import type { ActionPage } from '../src/digitalocean/client.js';
import type { Action } from '../src/digitalocean/models.js';
import { Allowance } from '../src/fleet/allowance.js';
import { DurationLearner } from '../src/fleet/duration-learner.js';
import { fleetKeys } from '../src/fleet/fleet-keys.js';
import { Lease } from '../src/fleet/lease.js';
import { directionOf, ListingModel, totalOf } from '../src/fleet/listing-model.js';
import { ObservationStore } from '../src/fleet/observation-store.js';
import { type PlannerTarget, plan } from '../src/fleet/planner.js';
import { WatchRegistry } from '../src/fleet/watch-registry.js';
import { readTogether } from '../src/support/batched-read.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { budgetUsage } from './support/budget-usage.js';
import { REDIS_TARGET, testPrefix } from './support/stack.js';

const PER_PAGE = 200;

function action(id: number): Action {
  return { id, status: 'in-progress', resource_id: id, resource_type: 'droplet' };
}

/** Page `page` of a listing of ids `1..total` (id order = age), in either order. */
function pageOf(
  total: number,
  page: number,
  order: 'oldest-first' | 'newest-first',
  firstId = 1,
): ActionPage {
  const ids = Array.from({ length: total }, (_, i) => firstId + i);
  if (order === 'newest-first') ids.reverse();
  return {
    actions: ids.slice((page - 1) * PER_PAGE, page * PER_PAGE).map(action),
    total,
    page,
    perPage: PER_PAGE,
    links: {},
  };
}

describe('listing model: order, positions and where an id is, learned from pages only', () => {
  it('reads the direction from the ids on a page, and says when they are in no order', () => {
    expect(directionOf([1, 2, 5])).toBe('oldest-first');
    expect(directionOf([9, 4, 3])).toBe('newest-first');
    expect(directionOf([3, 9, 4])).toBe('unsorted');
    expect(directionOf([7])).toBeUndefined();
  });

  for (const order of ['oldest-first', 'newest-first'] as const) {
    it(`${order}: positions count from the oldest, so a known action's page follows the total as actions arrive`, () => {
      const model = new ListingModel(PER_PAGE);
      const lesson = model.learn(pageOf(1000, 1, order), 0);
      expect(model.order).toBe(order);
      expect(lesson.conflict).toBeUndefined();
      // id k is the k-th oldest: position k - 1, whichever the order.
      expect(lesson.positions.get(1)).toBe(order === 'oldest-first' ? 0 : undefined);
      expect(lesson.positions.get(1000)).toBe(order === 'newest-first' ? 999 : undefined);
      const known = order === 'oldest-first' ? 150 : 900;
      expect(lesson.positions.get(known)).toBe(known - 1);
      expect(model.pageOfPosition(known - 1)).toBe(1);
      // 500 newer actions: oldest-first keeps it on page 1, newest-first pushes it 2.5 pages down.
      model.learn(pageOf(1500, 1, order), 1);
      expect(model.pageOfPosition(known - 1)).toBe(order === 'oldest-first' ? 1 : 4);
    });

    it(`${order}: ids never shown are placed between anchors, new ones against the newest end`, () => {
      const model = new ListingModel(PER_PAGE);
      model.learn(pageOf(1000, 1, order), 0);
      model.learn(pageOf(1000, 5, order), 0);
      const estimates = model.estimatePages(
        [{ actionId: order === 'oldest-first' ? 450 : 550 }, { actionId: 1001 }, { actionId: 1002 }],
        0,
      );
      // 450 (oldest-first) / 550 (newest-first) lie between the two pages read: page 3 either way.
      expect(estimates.get(order === 'oldest-first' ? 450 : 550)).toBe(3);
      expect(estimates.get(1002)).toBe(model.newestPage());
    });
  }

  it('reports a page whose order contradicts the pages before, and relearns', () => {
    const model = new ListingModel(PER_PAGE);
    model.learn(pageOf(1000, 1, 'oldest-first'), 0);
    const lesson = model.learn(pageOf(1000, 2, 'newest-first'), 1);
    expect(lesson.conflict).toMatch(/newest-first, not oldest-first/);
    expect(model.order).toBe('newest-first');
    const unsorted = model.learn({ ...pageOf(1000, 1, 'oldest-first'), actions: [5, 1, 9].map(action) }, 2);
    expect(unsorted.conflict).toMatch(/not in id order/);
    expect(model.locatable).toBe(false);
  });

  it('calls an id absent when the anchors on both sides leave no room for it', () => {
    const model = new ListingModel(50);
    const page = (number: number, ids: number[]): ActionPage => ({
      actions: ids.map(action),
      total: 100,
      page: number,
      perPage: 50,
      links: {},
    });
    // Ids 1..50 then 52..101: page 1 ends at position 49 with 50, page 2 starts at 50 with 52.
    model.learn(
      page(
        1,
        Array.from({ length: 50 }, (_, i) => i + 1),
      ),
      0,
    );
    model.learn(
      page(
        2,
        Array.from({ length: 50 }, (_, i) => i + 52),
      ),
      0,
    );
    const estimates = model.estimatePages([{ actionId: 51 }, { actionId: 75 }], 0);
    expect(estimates.get(51)).toBe('absent');
    expect(estimates.get(75)).toBe(2);
  });

  it('takes the size of the listing from meta.total, else from the last page as links.pages shows it', () => {
    const last = { ...pageOf(450, 3, 'oldest-first'), total: undefined };
    expect(totalOf(pageOf(450, 1, 'oldest-first'))).toBe(450);
    expect(totalOf(last)).toBe(450);
    const middle = { ...pageOf(450, 2, 'oldest-first'), total: undefined, links: { next: 'x', last: 'y' } };
    expect(totalOf(middle)).toBeUndefined();
  });

  it('survives a restart through its snapshot', () => {
    const model = new ListingModel(PER_PAGE);
    model.learn(pageOf(900, 2, 'newest-first'), 0);
    const copy = new ListingModel(PER_PAGE, JSON.parse(JSON.stringify(model.snapshot())));
    expect(copy.order).toBe('newest-first');
    expect(copy.total).toBe(900);
    expect(copy.estimatePages([{ actionId: 600 }], 0)).toEqual(model.estimatePages([{ actionId: 600 }], 0));
  });
});

function target(
  watchId: string,
  page: number | undefined,
  value = 0.1,
  resourceId = Number(watchId),
): PlannerTarget {
  return { watchId, actionId: Number(watchId), kind: 'image', resourceId, value, page, directOnly: false };
}

describe('planner: the cheapest mix of list pages and GETs, then the likeliest ends when short', () => {
  it('reads a page for two or more due watches, a resource list for several on one resource, GETs the rest', () => {
    const result = plan({
      targets: [
        target('1', 1),
        target('2', 1),
        target('3', 1),
        target('4', 4),
        target('5', undefined, 0.1, 77),
        target('6', undefined, 0.1, 77),
      ],
      allowance: 10,
      resourceLists: true,
    });
    expect([...result.pages.keys()]).toEqual([1]);
    expect(result.pages.get(1)?.map((t) => t.watchId)).toEqual(['1', '2', '3']);
    expect(result.resources.map((group) => group.resourceId)).toEqual([77]);
    expect(result.direct.map((t) => t.watchId)).toEqual(['4']);
    expect(result).toMatchObject({ cost: 3, short: false, held: [] });
  });

  it('with the burst spent, skips requests not expected to find anything ended', () => {
    const result = plan({
      targets: [target('1', 1, 0.2), target('2', 1, 0.3), target('3', 2, 0.9), target('4', 2, 0.9)],
      allowance: 10,
      resourceLists: false,
      minWorth: 1,
    });
    expect([...result.pages.keys()]).toEqual([2]);
    expect(result.held.map((t) => t.watchId)).toEqual(['1', '2']);
    expect(result.short).toBe(true);
  });

  it('never uses lists for a watch only its own GET can resolve', () => {
    const result = plan({
      targets: [
        { ...target('1', 1), directOnly: true },
        { ...target('2', 1), directOnly: true },
      ],
      allowance: 10,
      resourceLists: true,
    });
    expect(result.pages.size).toBe(0);
    expect(result.direct).toHaveLength(2);
  });

  it('when short, spends the allowance where actions are likeliest to have ended and holds the rest', () => {
    const result = plan({
      targets: [
        target('1', 1, 0.01),
        target('2', 1, 0.01),
        target('3', 2, 0.3),
        target('4', 2, 0.3),
        target('5', 3, 0.9),
        target('6', undefined, 0.05),
      ],
      allowance: 2,
      resourceLists: false,
    });
    expect(result.short).toBe(true);
    // Alone on its page, 5 is worth its own GET; 3 and 4 share page 2; 1, 2 and 6 can wait.
    expect([...result.pages.keys()]).toEqual([2]);
    expect(result.direct.map((t) => t.watchId)).toEqual(['5']);
    expect(result.held.map((t) => t.watchId).sort()).toEqual(['1', '2', '6']);
  });
});

describe('allowance: paced to the hourly limit, never past the windows or ratelimit-remaining', () => {
  const usage = budgetUsage();

  it('starts with five minutes of the hourly rate (within the minute window) and refills at that rate', () => {
    const allowance = new Allowance(500);
    expect(allowance.available(usage, 0).requests).toBe(225);
    expect(allowance.available({ ...usage, minute: { used: 0, limit: 1000 } }, 0).requests).toBe(375);
    allowance.spend(375);
    expect(allowance.available(usage, 0).requests).toBe(0);
    expect(allowance.plentiful).toBe(false);
    // 4,125 an hour (the hourly limit less the burst) is 1.15 per second.
    expect(allowance.available(usage, 10_000).requests).toBe(11);
  });

  it('refills at the minute’s pace while the projected hour lasts (a short burst), never past the minute window', () => {
    const burst = new Allowance(500);
    const short = { horizonMs: 80_000, perMinute: 300 };
    expect(burst.available(usage, 0, short).requests).toBe(225);
    burst.spend(375);
    // 225 a minute is 37.5 in 10 s; at the hourly pace it would have been 11.
    const refilled = burst.available(usage, 10_000, short);
    expect(refilled.requests).toBe(37);
    expect(refilled.pace.mode).toBe('burst');
    const paced = new Allowance(500);
    paced.available(usage, 0, { horizonMs: 3_600_000, perMinute: 1500 });
    paced.spend(375);
    const hourly = paced.available(usage, 10_000, { horizonMs: 3_600_000, perMinute: 1500 });
    expect(hourly.requests).toBe(11);
    expect(hourly.pace.mode).toBe('hourly');
    expect(burst.available({ ...usage, minute: { used: 220, limit: 225 } }, 60_000, short).requests).toBe(5);
  });

  it('gives nothing while paused, and keeps the headroom of ratelimit-remaining for others', () => {
    const allowance = new Allowance(500);
    expect(allowance.available({ ...usage, pausedUntil: 5 }, 0).requests).toBe(0);
    expect(allowance.available({ ...usage, estimatedRemaining: 530 }, 0).requests).toBe(30);
    expect(allowance.available({ ...usage, minute: { used: 220, limit: 225 } }, 0).requests).toBe(5);
    expect(allowance.plentiful).toBe(true);
    expect(allowance.minWorth()).toBe(0);
    allowance.spend(375);
    expect(allowance.minWorth()).toBe(2);
  });
});

describe('with Redis', () => {
  const prefix = testPrefix('fleet-units');
  const redis = createRedis(REDIS_TARGET);
  afterAll(async () => {
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  });

  it('learns durations per type, shared through Redis, and says how likely an action has ended', async () => {
    const learner = new DurationLearner(redis, prefix);
    for (let i = 0; i < 20; i++) await learner.learn('droplet', 'reboot', 40_000 + i * 1000);
    for (let i = 0; i < 20; i++) await learner.learn('image', 'transfer', 1_800_000 + i * 10_000);
    const other = new DurationLearner(redis, prefix);
    await other.refresh(true);
    expect(other.samples('droplet', 'reboot')).toBe(20);
    expect(other.endedBy('droplet', 'reboot', 10_000)).toBeLessThan(0.1);
    expect(other.endedBy('droplet', 'reboot', 90_000)).toBeGreaterThan(0.9);
    expect(other.endedBy('image', 'transfer', 90_000)).toBeLessThan(0.1);
    // A reboot seen running at 50 s is likely over by 70 s; a transfer at the same ages is not.
    expect(other.endedSince('droplet', 'reboot', 50_000, 70_000)).toBeGreaterThan(0.6);
    expect(other.endedSince('image', 'transfer', 50_000, 70_000)).toBeLessThan(0.05);
    // A type never seen borrows its kind's history.
    expect(other.endedBy('droplet', 'power_on', 90_000)).toBeGreaterThan(0.8);
  });

  it('says how much longer an action likely runs: short for short types, long for unknown ones, capped at the hour', async () => {
    // A history of its own: the test above taught this prefix other reboots and transfers.
    const learner = new DurationLearner(redis, `${prefix}:horizon`);
    for (let i = 0; i < 30; i++) await learner.learn('droplet', 'reboot', 20_000 + i * 2000);
    // Reboots take 20–80 s: one seen running at 30 s has ended by about 80 s.
    const remaining = learner.remainingMs('droplet', 'reboot', 30_000);
    expect(remaining).toBeGreaterThan(30_000);
    expect(remaining).toBeLessThan(90_000);
    // Its history holds only actions that ended: one running for 70 s is taken to run 70 s more.
    expect(learner.remainingMs('droplet', 'reboot', 70_000)).toBe(70_000);
    // One running longer than every reboot learned: the history cannot say, so the longest.
    expect(learner.remainingMs('droplet', 'reboot', 200_000)).toBe(3_600_000);
    // A type never seen, whose kind so far saw only short actions end, running past them: the same.
    expect(learner.remainingMs('droplet', 'resize', 120_000)).toBe(3_600_000);
    // With no history, the prior (10 s to 2 h) says most of an hour.
    expect(learner.remainingMs('image', 'transfer', 0)).toBeGreaterThan(30 * 60_000);
    expect(learner.remainingMs('image', 'transfer', 0, 0.99, 3_600_000)).toBe(3_600_000);
  });

  it('a lease has one holder; the next takes over once the holder stops renewing', async () => {
    const key = `${prefix}:lease`;
    const first = new Lease(redis, key, 300);
    const second = new Lease(redis, key, 300);
    expect(await first.acquire()).toBe(true);
    expect(await second.acquire()).toBe(false);
    expect(await first.acquire()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await second.acquire()).toBe(true);
    // The stalled holder cannot renew what is now someone else's, nor release it.
    expect(await first.acquire()).toBe(false);
    await first.release();
    expect(await redis.exists(key)).toBe(1);
    await second.release();
    expect(await redis.exists(key)).toBe(0);
  });

  it('reads the registry and the observations of a watch’s step in one MULTI, and lets an error reply through', async () => {
    const keys = fleetKeys(prefix, 'reads');
    const registry = new WatchRegistry(redis, keys);
    const store = new ObservationStore(redis, keys);
    const entry = { enqueuedAt: 1_000, deadlineAt: 9_000, wakeAt: 5_000, givenAt: 0 };
    const action = {
      id: 77,
      status: 'in-progress',
      type: 'reboot',
      resource_id: 1,
      resource_type: 'droplet',
    };
    const reads = () =>
      readTogether(redis, [
        store.read(77),
        registry.entryRead('droplet-1-77'),
        registry.directUntilRead('droplet-1-77'),
        registry.sweptRead(),
      ]);
    expect(await reads()).toEqual([undefined, undefined, 0, false]);

    await registry.register('droplet-1-77', entry, 5_000, true);
    await registry.setDirect(new Map([['droplet-1-77', 12_345]]));
    await store.record([{ action, observedAt: 4_000, apiObservedAt: 4_000, via: 'list' }]);
    await redis.set(keys.healthy, '1', 'PX', 60_000);
    expect(await reads()).toEqual([
      { action, observedAt: 4_000, apiObservedAt: 4_000, via: 'list' },
      entry,
      12_345,
      true,
    ]);

    await redis.del(keys.watches);
    await redis.set(keys.watches, 'not a hash');
    await expect(reads()).rejects.toThrow('WRONGTYPE');
  });
});
