import type { PollSchedule } from '../config/config.js';
import type { BudgetUsage } from '../digitalocean/request-budget.js';
import { SCHEDULED_CADENCE, type SweepCadence } from '../watches/schedule.js';
import { Allowance } from './allowance.js';
import type { DueTarget } from './due-watches.js';
import type { DurationLearner } from './duration-learner.js';
import { detectionBoundMs, type Pace } from './hourly-projection.js';

export interface SweepPacerOptions {
  schedule: PollSchedule;
  tickMs: number;
  /** Requests per hour the configured headroom keeps for other users of the token. */
  reservedForOthers: number;
  learner: Pick<DurationLearner, 'remainingMs'>;
  /** The clock of DigitalOcean's timestamps and rate windows. */
  apiClock: () => number;
  /** Both clocks when the sweeper began, to convert spans between them (see `apiRate`). */
  startedAt: { wall: number; api: number };
}

/** What the budget allows this round. */
export interface Pacing {
  /** Requests the planner may spend now. */
  allowance: number;
  pace: Pace['mode'];
  perMinute: number;
  /** The best detection the budget allows now (see `detectionBoundMs`). */
  boundMs: number;
  /** Requests one pass over every watched action in progress takes. */
  passRequests: number;
  /** The least worth a request must have now (see `Allowance.minWorth`). */
  minWorth: number;
  /** How often a watch may be looked at from now on. */
  cadence: SweepCadence;
}

/**
 * How fast one profile's sweeper may spend, round after round: its allowance (a token bucket at
 * the pace the hourly projection allows), fed with the demand of the watches due lately, the
 * pages they sit on and how long they will likely need looks.
 */
export class SweepPacer {
  private readonly allowance: Allowance;
  /** Pages that held due watched actions lately, with when; their count is the pass behind the bound. */
  private readonly watchedPages = new Map<number, number>();
  /**
   * Per kind and type, the start (API clock) of the youngest watched action due lately, and when
   * it was last due: a round's due set may hold only short actions while long ones wait for a
   * later round, so the horizon is taken over all of these.
   */
  private readonly youngest = new Map<
    string,
    { kind: string; type: string | undefined; startedAt: number; seenAt: number }
  >();
  private latest: SweepCadence = SCHEDULED_CADENCE;

  constructor(private readonly options: SweepPacerOptions) {
    this.allowance = new Allowance(options.reservedForOthers);
  }

  /** The cadence of the latest round (the schedule alone before any). */
  get cadence(): SweepCadence {
    return this.latest;
  }

  /** Paces this round's targets against the budget's `usage`; `apiNow` is the API clock at `now`. */
  pace(targets: readonly DueTarget[], usage: BudgetUsage, now: number, apiNow: number): Pacing {
    const passRequests = this.passRequests(targets, now);
    const fastestCycleMs = Math.max(this.options.schedule.minIntervalMs, this.options.tickMs);
    const apiRate = this.apiRate(now);
    const { requests: allowance, pace } = this.allowance.available(usage, apiNow, {
      horizonMs: this.horizonMs(targets, now, apiNow, apiRate),
      perMinute: (passRequests * 60_000) / (fastestCycleMs * apiRate),
    });
    const { mode, perMinute } = pace;
    const boundMs = detectionBoundMs(passRequests, perMinute);
    this.latest = {
      spare: this.allowance.plentiful,
      cycleMs: Math.max(fastestCycleMs, boundMs / apiRate),
    };
    return {
      allowance,
      pace: mode,
      perMinute,
      boundMs,
      passRequests,
      minWorth: this.allowance.minWorth(),
      cadence: this.latest,
    };
  }

  /** Requests the round made. */
  spend(requests: number): void {
    this.allowance.spend(requests);
  }

  /**
   * API-clock milliseconds per wall-clock millisecond: 1 against DigitalOcean, more when the
   * benchmark compresses time. Rates and bounds are counted on the API's clock (its windows), the
   * poll schedule and the ticks on the wall clock.
   */
  private apiRate(now: number): number {
    const wall = now - this.options.startedAt.wall;
    if (wall < 500) return 1;
    return Math.max(1e-3, (this.options.apiClock() - this.options.startedAt.api) / wall);
  }

  /**
   * Requests one pass over every watched action in progress takes: each page that held due
   * watched actions within the longest poll interval, plus each watch only its own GET sees.
   */
  private passRequests(targets: readonly DueTarget[], now: number): number {
    let singles = 0;
    for (const target of targets) {
      if (target.page === undefined || target.directOnly) singles++;
      else this.watchedPages.set(target.page, now);
    }
    for (const [page, seenAt] of this.watchedPages) {
      if (seenAt < now - this.options.schedule.maxIntervalMs) this.watchedPages.delete(page);
    }
    return this.watchedPages.size + singles;
  }

  /**
   * How long the watches will likely need looks: the longest of the times by which, from the
   * learned durations as they stand now, the youngest action of each kind and type due lately
   * (within two of the longest intervals) has ended, nine times in ten.
   */
  private horizonMs(targets: readonly DueTarget[], now: number, apiNow: number, apiRate: number): number {
    for (const target of targets) {
      const action = target.watch.observation?.action;
      const started = action?.started_at ? Date.parse(action.started_at) : Number.NaN;
      const startedAt = Number.isNaN(started)
        ? apiNow - (now - target.watch.entry.enqueuedAt) * apiRate
        : started;
      const key = `${target.kind}:${action?.type ?? ''}`;
      const known = this.youngest.get(key);
      if (known === undefined || startedAt >= known.startedAt)
        this.youngest.set(key, { kind: target.kind, type: action?.type, startedAt, seenAt: now });
    }
    let horizon = 0;
    for (const [key, { kind, type, startedAt, seenAt }] of this.youngest) {
      if (seenAt < now - 2 * this.options.schedule.maxIntervalMs) this.youngest.delete(key);
      else horizon = Math.max(horizon, this.options.learner.remainingMs(kind, type, apiNow - startedAt));
    }
    return horizon;
  }
}
