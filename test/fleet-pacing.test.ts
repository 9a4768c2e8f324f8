import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { detectionBoundMs, projectPace } from '../src/fleet/hourly-projection.js';
import { cheaperRequest, type PlannerTarget, plan, splitEarly } from '../src/fleet/planner.js';
import { emptySweepReport, type SweepReport } from '../src/fleet/sweeper.js';
import { Metrics } from '../src/metrics/metrics.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const LIMITS = { minute: { used: 0, limit: 225 }, hour: { used: 0, limit: 4500 } };

describe('hourly-use projection: the minute allowance while the hour lasts, the hourly pace once it would not', () => {
  it('lets a short burst spend the minute allowance when the projected hour stays within its limit', () => {
    // The burst: 10 pages wanted every 2 s (300/min, capped at 225) for about 80 s.
    const pace = projectPace({ ...LIMITS, horizonMs: 80_000, demandPerMinute: 300, reserve: 375 });
    expect(pace.mode).toBe('burst');
    expect(pace.perMinute).toBe(225);
    expect(pace.projectedHourUse).toBe(375 + 225 * (80 / 60));
  });

  it('paces to the hourly rate when spending at the minute pace for the horizon would run the hour out', () => {
    // 10,000 watches of up to an hour: 50 pages every 2 s for the whole hour.
    const pace = projectPace({ ...LIMITS, horizonMs: HOUR, demandPerMinute: 1500, reserve: 375 });
    expect(pace.mode).toBe('hourly');
    // (4,500 − 375) over 60 minutes.
    expect(pace.perMinute).toBeCloseTo(68.75, 6);
  });

  it('counts what the hour already holds: a burst that would overrun it is paced to the hourly rate', () => {
    const fresh = projectPace({ ...LIMITS, horizonMs: 10 * MINUTE, demandPerMinute: 225 });
    expect(fresh.mode).toBe('burst');
    const used = projectPace({
      minute: LIMITS.minute,
      hour: { used: 3000, limit: 4500 },
      horizonMs: 10 * MINUTE,
      demandPerMinute: 225,
    });
    expect(used.mode).toBe('hourly');
    expect(used.projectedHourUse).toBe(3000 + 2250);
    // The steady hourly rate: 4,500 an hour is 75 a minute, which can go on for ever.
    expect(used.perMinute).toBe(75);
    const full = projectPace({
      ...LIMITS,
      hour: { used: 4500, limit: 4500 },
      horizonMs: HOUR,
      demandPerMinute: 225,
    });
    expect(full.perMinute).toBe(75);
  });

  it('a small demand bursts even over a long horizon', () => {
    const pace = projectPace({ ...LIMITS, horizonMs: HOUR, demandPerMinute: 30, reserve: 375 });
    expect(pace).toMatchObject({ mode: 'burst', perMinute: 225 });
  });
});

describe('detection bound: one pass over the watched pages at the allowed rate', () => {
  it('is pages ÷ rate', () => {
    // The burst's 10 pages at 225 a minute: every page re-read every 2.7 s.
    expect(detectionBoundMs(10, 225)).toBeCloseTo(2667, 0);
    // 50 pages at the steady hourly pace (68.75 a minute): about 44 s.
    expect(detectionBoundMs(50, 68.75)).toBeCloseTo(43_636, 0);
    expect(detectionBoundMs(0, 225)).toBe(0);
    expect(detectionBoundMs(3, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('is exposed in metrics beside the achieved detection, with the pace', async () => {
    const metrics = new Metrics();
    const fleet = new EventEmitter<{ round: [SweepReport] }>();
    metrics.observeFleet(fleet);
    fleet.emit('round', {
      ...emptySweepReport('default'),
      due: 5,
      boundMs: 2500,
      pace: 'burst',
      perMinute: 225,
    });
    let text = await metrics.render();
    expect(text).toContain('actionwatch_fleet_detection_bound_seconds{profile="default"} 2.5');
    expect(text).toContain(
      'actionwatch_fleet_requests_per_minute_allowed{profile="default",pace="burst"} 225',
    );
    expect(text).toContain('actionwatch_detection_latency_seconds');
    fleet.emit('round', {
      ...emptySweepReport('default'),
      due: 5,
      boundMs: 40_000,
      pace: 'hourly',
      perMinute: 75,
    });
    text = await metrics.render();
    expect(text).toContain(
      'actionwatch_fleet_requests_per_minute_allowed{profile="default",pace="hourly"} 75',
    );
    expect(text).not.toContain('pace="burst"');
  });
});

/** A due watch; `delayS` defaults to its chance of having ended × 10 s (last seen 20 s ago). */
function target(
  watchId: string,
  page: number | undefined,
  value: number,
  early: boolean,
  directOnly = false,
  delayS = value * 10,
): PlannerTarget {
  const id = Number(watchId);
  return { watchId, actionId: id, kind: 'droplet', resourceId: id, value, delayS, page, directOnly, early };
}

describe('page ordering: what can have changed is read first, what cannot is not read', () => {
  it('reads early pages only when the delay a read would end adds up (likely ended, long unseen)', () => {
    const { read, waiting } = splitEarly(
      [
        // Page 1: many actions each a little likely to have ended: together worth a read
        // (20 × 0.01 × 10 s = 2 s of expected delay ended).
        ...Array.from({ length: 20 }, (_, i) => target(String(100 + i), 1, 0.01, true)),
        // Page 5: as likely, but seen a moment ago: nothing has waited long yet.
        ...Array.from({ length: 20 }, (_, i) => target(String(500 + i), 5, 0.01, true, false, 0.01 * 0.5)),
        // Page 2: actions that cannot have ended yet (learned durations): not read.
        target('200', 2, 0, true),
        target('201', 2, 0.001, true),
        // Page 3: one target its schedule wants, so the early one beside it comes along.
        target('300', 3, 0, false),
        target('301', 3, 0, true),
        // Alone, only its own GET sees it: read early only if it alone is likely ended.
        target('400', undefined, 0.5, true, true),
        target('401', undefined, 0.01, true, true),
      ],
      2,
    );
    const expectedWaiting = ['200', '201', '401', ...Array.from({ length: 20 }, (_, i) => String(500 + i))];
    expect(waiting.map((t) => t.watchId).sort()).toEqual(expectedWaiting.sort());
    expect(read).toHaveLength(20 + 2 + 1);
  });

  it('with nothing early, every due target is read', () => {
    const targets = [target('1', 1, 0, false), target('2', 2, 0, false)];
    expect(splitEarly(targets, 2)).toEqual({ read: targets, waiting: [] });
  });

  it('when the budget is short, spends it on the pages likeliest to hold newly ended actions', () => {
    const result = plan({
      targets: [
        target('1', 1, 0.05, false),
        target('2', 1, 0.05, false),
        target('3', 2, 0.6, false),
        target('4', 2, 0.7, false),
        target('5', 3, 0.3, false),
        target('6', 3, 0.3, false),
        target('7', 4, 0, true),
        target('8', 4, 0, true),
      ],
      allowance: 2,
      resourceLists: false,
    });
    expect([...result.pages.keys()]).toEqual([2, 3]);
    expect(result.held.map((t) => t.watchId)).toEqual(['1', '2']);
    expect(result.waiting.map((t) => t.watchId)).toEqual(['7', '8']);
    expect(result.short).toBe(true);
  });

  it('pages with nothing likely ended and nothing scheduled cost no request, and do not make the round short', () => {
    const result = plan({
      targets: [
        target('1', 1, 0.01, true),
        target('2', 1, 0.01, true),
        target('3', 2, 0.2, true),
        target('4', 2, 0.2, true),
      ],
      allowance: 10,
      resourceLists: false,
    });
    expect([...result.pages.keys()]).toEqual([2]);
    expect(result).toMatchObject({ cost: 1, short: false, held: [] });
    expect(result.waiting).toHaveLength(2);
  });
});

describe('GET versus page: the cheaper request for the same promptness', () => {
  it('a page for two or more watched actions on it, a GET for one', () => {
    expect(cheaperRequest(1)).toBe('get');
    expect(cheaperRequest(2)).toBe('page');
    expect(cheaperRequest(200)).toBe('page');
  });

  it('the planner follows it: a lone watch on a page gets its own GET', () => {
    const result = plan({
      targets: [target('1', 1, 0.5, false), target('2', 5, 0.5, false), target('3', 5, 0.5, false)],
      allowance: 10,
      resourceLists: false,
    });
    expect([...result.pages.keys()]).toEqual([5]);
    expect(result.direct.map((t) => t.watchId)).toEqual(['1']);
    expect(result.cost).toBe(2);
  });
});
