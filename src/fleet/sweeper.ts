import { EventEmitter } from 'node:events';
import { Job, Queue } from 'bullmq';
import type { PollSchedule } from '../config/config.js';
import type { ActionPage, DigitalOceanClient } from '../digitalocean/client.js';
import type { Action } from '../digitalocean/models.js';
import type { RequestBudget } from '../digitalocean/request-budget.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from '../errors/digitalocean-api-error.js';
import type { Logger } from '../logging/logger.js';
import { type Redis, withoutRepeatedErrors } from '../support/redis.js';
import { outcomeKey, watchQueuePrefix } from '../watches/keys.js';
import { intervalFor, sweepInterval } from '../watches/schedule.js';
import { type ActionRef, parseWatchId } from '../watches/watch-ref.js';
import { AccountSweep } from './account-sweep.js';
import { Allowance } from './allowance.js';
import type { DurationLearner } from './duration-learner.js';
import { type FleetKeys, fleetKeys } from './fleet-keys.js';
import { detectionBoundMs } from './hourly-projection.js';
import { Lease } from './lease.js';
import { ListingModel, type ListingSnapshot } from './listing-model.js';
import {
  isEnded,
  type Observation,
  ObservationStore,
  type ObservedVia,
  observes,
} from './observation-store.js';
import { type PlannerTarget, plan } from './planner.js';
import { type Registration, WatchRegistry } from './watch-registry.js';

export interface SweeperOptions {
  /** A plain (non-blocking) connection. */
  redis: Redis;
  prefix: string;
  profile: string;
  /** The BullMQ queue of this profile's watches, whose delayed jobs the sweeper promotes. */
  queueName: string;
  client: DigitalOceanClient;
  budget: RequestBudget;
  schedule: PollSchedule;
  learner: DurationLearner;
  logger: Logger;
  tickMs: number;
  leaseTtlMs: number;
  /** How long a looked-after watch sleeps between steps of its own. */
  sleepMs: number;
  /** Requests per hour the configured headroom keeps for other users of the token. */
  reservedForOthers: number;
  /** The clock of DigitalOcean's timestamps and rate windows. */
  apiClock: () => number;
}

/** One planning round of one profile: what was due, and how each due watch was dealt with. */
export interface SweepReport {
  profile: string;
  /** Watches due for an observation. */
  due: number;
  /** Requests the planner could spend this round, and what it spent on lists. */
  allowance: number;
  pagesRead: number;
  resourceListsRead: number;
  /** Due watches seen on an account listing page, or on a resource's list. */
  viaAccountList: number;
  viaResourceList: number;
  /** Due watches left to their own GET (cheaper alone, not listed, or lists failing). */
  direct: number;
  /** Due watches not observed this round because the budget is short. */
  held: number;
  /** True when the budget could not cover every due watch. */
  short: boolean;
  /** Due watches looked at only if likely ended (the budget allows looking sooner than their schedule), left for later. */
  waiting: number;
  /**
   * The best detection the budget allows now, in ms: one read of every page holding watched
   * actions in progress (and every watch only its own GET sees) at `perMinute`.
   */
  boundMs: number;
  /** Requests one such pass takes. */
  passRequests: number;
  /** The pace the budget allows now (`burst`: the minute's allowance; `hourly`: paced so the hour lasts). */
  pace: 'burst' | 'hourly';
  perMinute: number;
  /** Watched actions observed by this round's lists, due or not. */
  observed: number;
  /** Watches promoted to finish now, their action seen ended. */
  promoted: number;
  listFailure?: string;
}

/** A round's report before anything happened in it. */
export function emptySweepReport(profile: string): SweepReport {
  return {
    profile,
    due: 0,
    allowance: 0,
    pagesRead: 0,
    resourceListsRead: 0,
    viaAccountList: 0,
    viaResourceList: 0,
    direct: 0,
    held: 0,
    short: false,
    waiting: 0,
    boundMs: 0,
    passRequests: 0,
    pace: 'hourly',
    perMinute: 0,
    observed: 0,
    promoted: 0,
  };
}

export interface SweeperEvents {
  round: [SweepReport];
}

const PER_PAGE = 200;
const MAX_DUE_PER_ROUND = 50_000;
const WATCHED_REFRESH_MS = 1_000;
const PRUNE_EVERY_MS = 60_000;
const SHORT_LOG_EVERY_MS = 30_000;
const PROMOTE_CONCURRENCY = 500;
const MAX_MISSED_ROUNDS = 3;

interface DueWatch {
  watchId: string;
  ref: ActionRef;
  entry: Registration;
  observation: Observation | undefined;
  interval: number;
  /** When its poll schedule wants it observed (a look before then is early). */
  scheduledAt: number;
}

/**
 * Observes one token profile's watched actions through list requests, for every worker: whichever
 * worker holds the profile's lease runs a round each tick. A round takes the watches due for an
 * observation, lets the planner choose listing pages, resource lists and single GETs within the
 * budget, reads the lists, records each watched action seen once, moves every observed watch's
 * due time on, and promotes the jobs of watches whose action ended (or that must now GET
 * themselves) so they run at once.
 */
export class Sweeper extends EventEmitter<SweeperEvents> {
  private readonly keys: FleetKeys;
  private readonly lease: Lease;
  private readonly registry: WatchRegistry;
  private readonly store: ObservationStore;
  private readonly queue: Queue;
  private readonly allowance: Allowance;
  private model: ListingModel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private watched = new Map<number, string[]>();
  private watchedAt = 0;
  private prunedAt = 0;
  private listsFailedUntil = 0;
  private listFailures = 0;
  private resourceListsFailedUntil = 0;
  private shortLoggedAt = 0;
  /** Rounds in a row whose pages missed a watch they should have held; after three it GETs. */
  private readonly missedRounds = new Map<string, number>();
  /** Watches due in the round under way, left to their own GETs should the round fail. */
  private roundDue: string[] = [];
  /** Whether the last round left budget to spare (see `targetInterval`). */
  private spare = false;
  /** The shortest useful time between reads of one page: the detection bound, or the minimum interval. */
  private cycleMs = 0;
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
  /** Both clocks when this sweeper began, to convert spans between them (see `apiRate`). */
  private readonly startedAt = { wall: Date.now(), api: 0 };
  /** Set when DigitalOcean refused this token a list (401/403): this process sweeps no more. */
  private refused: string | undefined;

  constructor(private readonly options: SweeperOptions) {
    super();
    this.keys = fleetKeys(options.prefix, options.profile);
    this.lease = new Lease(options.redis, this.keys.lease, options.leaseTtlMs);
    this.registry = new WatchRegistry(options.redis, this.keys);
    this.store = new ObservationStore(options.redis, this.keys);
    this.queue = withoutRepeatedErrors(
      new Queue(options.queueName, {
        connection: options.redis,
        prefix: watchQueuePrefix(options.prefix, options.profile),
      }),
    );
    this.allowance = new Allowance(options.reservedForOthers);
    this.startedAt.api = options.apiClock();
  }

  /**
   * API-clock milliseconds per wall-clock millisecond: 1 against DigitalOcean, more when the
   * benchmark compresses time. Rates and bounds are counted on the API's clock (its windows), the
   * poll schedule and the ticks on the wall clock.
   */
  private apiRate(now: number): number {
    const wall = now - this.startedAt.wall;
    if (wall < 500) return 1;
    return Math.max(1e-3, (this.options.apiClock() - this.startedAt.api) / wall);
  }

  get profile(): string {
    return this.options.profile;
  }

  /** Whether this process holds the profile's lease (and so sweeps for every worker). */
  get leading(): boolean {
    return this.lease.held;
  }

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.schedule(0);
  }

  /** Stops after the round in progress and gives the lease up, so another worker takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
    if (this.lease.held) await this.options.redis.del(this.keys.healthy).catch(() => {});
    await this.lease.release().catch(() => {});
    await this.queue.close();
  }

  /** One tick: take or keep the lease, then run a round if anything is due. Public for tests. */
  async tick(): Promise<SweepReport | undefined> {
    if (!(await this.lease.acquire())) {
      this.model = undefined;
      return undefined;
    }
    this.model ??= await this.loadModel();
    await this.options.learner.refresh();
    const now = Date.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) await this.prune(now);
    // Due within half a tick: each watch is taken by the round nearest its time, not a tick early.
    const due = await this.registry.dueBy(now + this.options.tickMs / 2, MAX_DUE_PER_ROUND);
    this.roundDue = due.map((entry) => entry.watchId);
    const report = due.length === 0 ? undefined : await this.round(this.roundDue);
    this.roundDue = [];
    if (report !== undefined) this.emit('round', report);
    if (this.refused !== undefined) {
      await this.giveUp();
      return report;
    }
    // Only a sweeper whose rounds go through tells watches to wait for it.
    await this.options.redis.set(this.keys.healthy, '1', 'PX', this.options.leaseTtlMs);
    return report;
  }

  /**
   * The token may not list actions (revoked, or scoped without actions:read): retrying would only
   * repeat the refusal. This process stops sweeping and lets the lease go; with no sweeper healthy
   * the watches poll with their own GETs, which stop that worker too if the token itself is bad.
   */
  private async giveUp(): Promise<void> {
    this.stopped = true;
    this.options.logger.error(
      { profile: this.options.profile, err: this.refused },
      'DigitalOcean refused this token a list of actions; this worker stops sweeping and its watches poll with their own GETs (restart workers once the token or its scopes are fixed)',
    );
    await this.options.redis.del(this.keys.healthy);
    await this.lease.release();
  }

  private noteRefusal(error: unknown): void {
    if (error instanceof UnauthorizedError || error instanceof ForbiddenError) this.refused ??= error.message;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .then(() => undefined)
        .catch(async (error: unknown) => {
          this.options.logger.warn(
            { profile: this.options.profile, err: error instanceof Error ? error.message : String(error) },
            'sweep round failed; watches fall back to their own GETs until a round succeeds',
          );
          await this.fallBack(this.roundDue).catch(() => {});
        })
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.options.tickMs);
        });
    }, delayMs);
  }

  private async round(watchIds: string[]): Promise<SweepReport> {
    const now = Date.now();
    const apiNow = this.options.apiClock();
    const report = emptySweepReport(this.options.profile);
    const refs = new Map<string, ActionRef>();
    for (const watchId of watchIds) {
      const ref = parseWatchId(watchId);
      if (ref !== undefined) refs.set(watchId, ref);
    }
    const actionIds = [...new Set([...refs.values()].map((ref) => ref.actionId))];
    const [entries, directs, outcomes, observations, positions] = await Promise.all([
      this.registry.entries(watchIds),
      this.registry.directUntil(watchIds),
      this.recordedOutcomes(watchIds),
      this.store.getMany(actionIds),
      this.store.positions(actionIds),
    ]);

    const gone: string[] = [];
    const ended: string[] = [];
    const due = new Map<string, number>();
    const watches = new Map<string, DueWatch>();
    const targets: PlannerTarget[] = [];
    const staleAfter = 2 * this.options.sleepMs;
    for (const watchId of watchIds) {
      const ref = refs.get(watchId);
      const entry = entries.get(watchId);
      if (
        ref === undefined ||
        entry === undefined ||
        outcomes.has(watchId) ||
        entry.wakeAt + staleAfter < now
      ) {
        gone.push(watchId);
        continue;
      }
      const seen = observations.get(ref.actionId);
      const observation = seen !== undefined && observes(ref, seen.action) ? seen : undefined;
      if (observation !== undefined && isEnded(observation.action)) {
        ended.push(watchId);
        continue;
      }
      const interval = this.targetInterval(observation?.action ?? null, entry.enqueuedAt, now);
      const scheduledAt =
        observation === undefined
          ? now
          : observation.observedAt + this.scheduledInterval(observation.action, entry.enqueuedAt, now);
      if (entry.deadlineAt <= now) {
        // Its job times out by itself; nothing to spend on it.
        due.set(watchId, now + this.options.sleepMs);
        continue;
      }
      if (observation !== undefined && observation.observedAt + interval > now + this.options.tickMs / 2) {
        // Observed recently enough (by its own GET, or a list since this round was read).
        due.set(watchId, observation.observedAt + interval);
        continue;
      }
      const directUntil = directs.get(watchId) ?? 0;
      if (directUntil > now) {
        due.set(watchId, directUntil);
        continue;
      }
      watches.set(watchId, { watchId, ref, entry, observation, interval, scheduledAt });
      const value = this.worthOf(ref, observation, entry, now, apiNow);
      targets.push({
        early: scheduledAt > now + this.options.tickMs / 2,
        delayS:
          observation === undefined
            ? undefined
            : (value * Math.max(0, apiNow - observation.apiObservedAt)) / 2000,
        watchId,
        actionId: ref.actionId,
        kind: ref.kind,
        resourceId: ref.resourceId,
        value,
        page: undefined,
        directOnly: seen !== undefined && observation === undefined,
      });
    }
    report.due = targets.length;
    await this.registry.remove(gone);
    report.promoted += await this.promote(ended);
    if (targets.length === 0) {
      await this.registry.setDue(due);
      return report;
    }

    this.estimatePages(targets, positions, now);
    const usage = await this.options.budget.usage();
    report.passRequests = this.passRequests(targets, now);
    const fastestCycleMs = Math.max(this.options.schedule.minIntervalMs, this.options.tickMs);
    const apiRate = this.apiRate(now);
    report.allowance = this.allowance.available(usage, apiNow, {
      horizonMs: this.horizonMs(targets, watches, now, apiNow, apiRate),
      perMinute: (report.passRequests * 60_000) / (fastestCycleMs * apiRate),
    });
    report.pace = this.allowance.pace.mode;
    report.perMinute = this.allowance.pace.perMinute;
    report.boundMs = detectionBoundMs(report.passRequests, report.perMinute);
    this.spare = this.allowance.plentiful;
    this.cycleMs = Math.max(fastestCycleMs, report.boundMs / apiRate);
    const chosen = plan({
      targets,
      allowance: report.allowance,
      resourceLists: now >= this.resourceListsFailedUntil,
      minWorth: this.allowance.minWorth(),
    });
    report.short = chosen.short;
    report.held = chosen.held.length;
    for (const target of chosen.held) {
      const watch = watches.get(target.watchId) as DueWatch;
      due.set(target.watchId, now + Math.max(this.options.tickMs, watch.interval / 2));
    }
    report.waiting = chosen.waiting.length;
    for (const target of chosen.waiting) {
      const watch = watches.get(target.watchId) as DueWatch;
      due.set(
        target.watchId,
        Math.min(watch.scheduledAt, now + Math.max(this.options.tickMs, this.cycleMs / 2)),
      );
    }
    const direct = new Set(chosen.direct.map((target) => target.watchId));

    const listTargets = [...chosen.pages.values()].flat();
    if (listTargets.length > 0) {
      const spare = Math.max(0, report.allowance - chosen.cost);
      const sweep = new AccountSweep(
        this.options.client,
        this.model as ListingModel,
        async (page, pagePositions) => {
          await this.recordPage(page.actions, 'list', pagePositions, watches, report);
        },
      );
      const result = await sweep.run(
        listTargets.map((target) => ({
          actionId: target.actionId,
          position: positions.get(target.actionId),
        })),
        chosen.pages.size + Math.min(2, spare),
      );
      report.pagesRead += result.reads;
      if (result.failure !== undefined) this.listsFailed(result.failure, report);
      else if (result.reads > 0) this.listFailures = 0;
      const missed: number[] = [];
      for (const target of listTargets) {
        if (result.covered.has(target.actionId)) {
          report.viaAccountList++;
          this.missedRounds.delete(target.watchId);
        } else if (result.gaveUp.has(target.actionId) && result.failure === undefined) {
          // Its recorded place is stale, or the estimate was off: look again next round with the
          // anchors these pages left, and give it its own GET only if that keeps failing.
          const rounds = (this.missedRounds.get(target.watchId) ?? 0) + 1;
          missed.push(target.actionId);
          if (rounds >= MAX_MISSED_ROUNDS) {
            this.missedRounds.delete(target.watchId);
            direct.add(target.watchId);
          } else {
            this.missedRounds.set(target.watchId, rounds);
            due.set(target.watchId, now + this.options.tickMs);
          }
        } else if (result.notReached.has(target.actionId) && result.failure === undefined) {
          // Next round (held while the budget is out, then likely a GET if alone on its page).
          due.set(target.watchId, now + this.options.tickMs);
        } else direct.add(target.watchId);
      }
      await this.store.forgetPositions(missed);
      if (result.conflict !== undefined) {
        this.options.logger.warn(
          { profile: this.options.profile, conflict: result.conflict },
          'the action listing is not in the order pages showed before; locating watched actions afresh',
        );
      }
      await this.saveModel();
    }

    for (const group of chosen.resources) {
      const seen = await this.readResourceList(group.kind, group.resourceId, watches, report);
      for (const target of group.targets) {
        if (seen === 'out-of-budget') due.set(target.watchId, now + this.options.tickMs);
        else if (seen?.has(target.actionId)) report.viaResourceList++;
        else direct.add(target.watchId);
      }
    }

    await this.leaveToOwnGet(direct, watches, due, now, report);
    this.allowance.spend(report.pagesRead + report.resourceListsRead + report.direct);
    await this.registry.setDue(due);
    if (report.short) this.logShort(report);
    this.logRound(report);
    return report;
  }

  /**
   * Requests one pass over every watched action in progress takes: each page that held due
   * watched actions within the longest poll interval, plus each watch only its own GET sees.
   */
  private passRequests(targets: readonly PlannerTarget[], now: number): number {
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
  private horizonMs(
    targets: readonly PlannerTarget[],
    watches: Map<string, DueWatch>,
    now: number,
    apiNow: number,
    apiRate: number,
  ): number {
    for (const target of targets) {
      const watch = watches.get(target.watchId) as DueWatch;
      const action = watch.observation?.action;
      const started = action?.started_at ? Date.parse(action.started_at) : Number.NaN;
      const startedAt = Number.isNaN(started) ? apiNow - (now - watch.entry.enqueuedAt) * apiRate : started;
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

  private logRound(report: SweepReport): void {
    this.options.logger.debug(
      {
        profile: report.profile,
        due: report.due,
        pagesRead: report.pagesRead,
        direct: report.direct,
        held: report.held,
        waiting: report.waiting,
        pace: report.pace,
        perMinute: Math.round(report.perMinute * 10) / 10,
        passRequests: report.passRequests,
        boundMs: Math.round(report.boundMs),
      },
      'sweep round',
    );
  }

  /** Pages for every target the account listing can reach; page 1 while its order is unknown. */
  private estimatePages(targets: PlannerTarget[], positions: Map<number, number>, now: number): void {
    const model = this.model as ListingModel;
    if (now < this.listsFailedUntil) return;
    if (model.order === undefined || model.total === undefined) {
      for (const target of targets) if (!target.directOnly) target.page = 1;
      return;
    }
    const estimates = model.estimatePages(
      targets.map((target) => ({ actionId: target.actionId, position: positions.get(target.actionId) })),
      now,
    );
    for (const target of targets) {
      const estimate = estimates.get(target.actionId);
      if (estimate === 'absent') target.directOnly = true;
      else target.page = estimate;
    }
  }

  /**
   * Records every watched action on a page (due or not: an observation made is an observation
   * kept), feeds actions seen ending for the first time to the duration history, moves each
   * observed watch's due time to a full interval later, and promotes watches whose action ended.
   */
  private async recordPage(
    actions: readonly Action[],
    via: ObservedVia,
    pagePositions: Map<number, number> | undefined,
    watches: Map<string, DueWatch>,
    report: SweepReport,
  ): Promise<Set<number>> {
    if (await this.lease.keep())
      await this.options.redis.set(this.keys.healthy, '1', 'PX', this.options.leaseTtlMs);
    const now = Date.now();
    const apiNow = this.options.apiClock();
    const watched = await this.watchedActions(now, watches);
    // Only what some watch of that id would take (the same check as a poll's answer): an entry
    // under another resource must not become the action's recorded, and final, observation.
    const seen = actions.filter((action) =>
      (watched.get(action.id) ?? []).some((watchId) => {
        const ref = parseWatchId(watchId);
        return ref !== undefined && observes(ref, action);
      }),
    );
    const observedIds = new Set(seen.map((action) => action.id));
    if (seen.length === 0) return observedIds;
    const newlyEnded = await this.store.record(
      seen.map((action) => ({ action, observedAt: now, apiObservedAt: apiNow, via })),
    );
    report.observed += seen.length;
    if (pagePositions !== undefined) {
      const kept = new Map([...pagePositions].filter(([id]) => observedIds.has(id)));
      await this.store.setPositions(kept);
    }
    const endedIds = new Set(newlyEnded);
    for (const action of seen) if (endedIds.has(action.id)) await this.options.learner.learnFrom(action);

    const watchIds = seen.flatMap((action) => watched.get(action.id) ?? []);
    const missing = watchIds.filter((watchId) => !watches.has(watchId));
    const entries = await this.registry.entries(missing);
    const byId = new Map(seen.map((action) => [action.id, action]));
    const due = new Map<string, number>();
    const finished: string[] = [];
    for (const watchId of watchIds) {
      const ref = parseWatchId(watchId);
      const action = ref === undefined ? undefined : byId.get(ref.actionId);
      if (ref === undefined || action === undefined || !observes(ref, action)) continue;
      if (isEnded(action)) {
        finished.push(watchId);
        continue;
      }
      const entry = watches.get(watchId)?.entry ?? entries.get(watchId);
      if (entry !== undefined) due.set(watchId, now + this.targetInterval(action, entry.enqueuedAt, now));
    }
    await this.registry.setDue(due);
    report.promoted += await this.promote(finished);
    return observedIds;
  }

  private async readResourceList(
    kind: ActionRef['kind'],
    resourceId: number,
    watches: Map<string, DueWatch>,
    report: SweepReport,
  ): Promise<Set<number> | 'out-of-budget' | undefined> {
    if (Date.now() < this.resourceListsFailedUntil) return undefined;
    let listing: ActionPage;
    try {
      const options = { page: 1, perPage: PER_PAGE, retries: 0 };
      listing =
        kind === 'droplet'
          ? await this.options.client.listDropletActions(resourceId, options)
          : await this.options.client.listImageActions(resourceId, options);
    } catch (error) {
      if (error instanceof BudgetExhaustedError || error instanceof RateLimitedError) return 'out-of-budget';
      this.noteRefusal(error);
      this.resourceListsFailedUntil = Date.now() + this.backoffMs(1);
      report.listFailure = error instanceof Error ? error.message : String(error);
      return undefined;
    }
    report.resourceListsRead++;
    return this.recordPage(listing.actions, 'resource-list', undefined, watches, report);
  }

  /**
   * These watches poll with their own GET for one interval: marked so (their next step GETs), and
   * woken now if their job sleeps past the time they need an observation by.
   */
  private async leaveToOwnGet(
    watchIds: Set<string>,
    watches: Map<string, DueWatch>,
    due: Map<string, number>,
    now: number,
    report: SweepReport,
  ): Promise<void> {
    const until = new Map<string, number>();
    const wake: string[] = [];
    for (const watchId of watchIds) {
      const watch = watches.get(watchId);
      if (watch === undefined) continue;
      until.set(watchId, now + watch.interval);
      due.set(watchId, now + watch.interval);
      if (watch.entry.wakeAt > now + this.options.tickMs) wake.push(watchId);
    }
    report.direct = until.size;
    await this.registry.setDirect(until);
    report.promoted += await this.promote(wake);
  }

  /** After a failed round: its due watches poll with their own GET for a while, starting now. */
  private async fallBack(watchIds: string[]): Promise<void> {
    this.roundDue = [];
    if (watchIds.length === 0) return;
    await this.options.redis.del(this.keys.healthy);
    const until = Date.now() + this.options.schedule.maxIntervalMs;
    await this.registry.setDirect(new Map(watchIds.map((watchId) => [watchId, until])));
    await this.promote(watchIds);
  }

  private listsFailed(error: unknown, report: SweepReport): void {
    this.noteRefusal(error);
    this.listFailures++;
    const backoff = this.backoffMs(this.listFailures);
    this.listsFailedUntil = Date.now() + backoff;
    report.listFailure = error instanceof Error ? error.message : String(error);
    this.options.logger.warn(
      { profile: this.options.profile, err: report.listFailure, retryInMs: backoff },
      'listing actions failed; the watches it would have observed poll with their own GET meanwhile',
    );
  }

  private backoffMs(failures: number): number {
    return Math.min(300_000, this.options.tickMs * 10 * 2 ** Math.min(10, failures - 1));
  }

  /**
   * Promotes delayed jobs so they run now: one script call each (BullMQ's promote refuses a job
   * that is not delayed any more; that one has started and reads the observation itself).
   */
  private async promote(watchIds: readonly string[]): Promise<number> {
    let promoted = 0;
    for (let start = 0; start < watchIds.length; start += PROMOTE_CONCURRENCY) {
      const results = await Promise.all(
        watchIds.slice(start, start + PROMOTE_CONCURRENCY).map((watchId) =>
          new Job(this.queue, 'watch', {}, {}, watchId).promote().then(
            () => 1,
            () => 0,
          ),
        ),
      );
      promoted += results.reduce<number>((sum, value) => sum + value, 0);
    }
    return promoted;
  }

  /**
   * What one more look at this watch is worth: the chance its action ended since it was last seen
   * running, by the durations learned for its type; one more when it was never seen at all.
   */
  private worthOf(
    ref: ActionRef,
    observation: Observation | undefined,
    entry: Registration,
    now: number,
    apiNow: number,
  ): number {
    const learner = this.options.learner;
    if (observation === undefined) return 1 + learner.endedBy(ref.kind, undefined, now - entry.enqueuedAt);
    const started = observation.action.started_at ? Date.parse(observation.action.started_at) : Number.NaN;
    if (Number.isNaN(started))
      return learner.endedBy(ref.kind, observation.action.type, now - entry.enqueuedAt);
    return learner.endedSince(
      ref.kind,
      observation.action.type,
      observation.apiObservedAt - started,
      apiNow - started,
    );
  }

  private targetInterval(action: Action | null, enqueuedAt: number, now: number): number {
    const cadence = { spare: this.spare, cycleMs: this.cycleMs };
    return sweepInterval(this.options.schedule, cadence, action, enqueuedAt, now);
  }

  private scheduledInterval(action: Action | null, enqueuedAt: number, now: number): number {
    return intervalFor(this.options.schedule, action, enqueuedAt, now);
  }

  /** Every watched action id with its watches, read again at most once a second. */
  private async watchedActions(now: number, due: Map<string, DueWatch>): Promise<Map<number, string[]>> {
    if (now - this.watchedAt >= WATCHED_REFRESH_MS) {
      const watched = new Map<number, string[]>();
      for (const watchId of await this.registry.watchIds()) {
        const ref = parseWatchId(watchId);
        if (ref === undefined) continue;
        const ids = watched.get(ref.actionId) ?? [];
        ids.push(watchId);
        watched.set(ref.actionId, ids);
      }
      this.watched = watched;
      this.watchedAt = now;
    }
    for (const watch of due.values()) {
      const ids = this.watched.get(watch.ref.actionId) ?? [];
      if (!ids.includes(watch.watchId)) {
        ids.push(watch.watchId);
        this.watched.set(watch.ref.actionId, ids);
      }
    }
    return this.watched;
  }

  private async recordedOutcomes(watchIds: readonly string[]): Promise<Set<string>> {
    if (watchIds.length === 0) return new Set();
    const values = await this.options.redis.mget(
      ...watchIds.map((watchId) => outcomeKey(this.options.prefix, watchId)),
    );
    return new Set(watchIds.filter((_, index) => values[index] !== null));
  }

  private async prune(now: number): Promise<void> {
    this.prunedAt = now;
    this.missedRounds.clear();
    this.watchedAt = 0;
    const watched = await this.watchedActions(now, new Map());
    await this.store.prune(new Set(watched.keys()));
  }

  private async loadModel(): Promise<ListingModel> {
    const json = await this.options.redis.get(this.keys.listing);
    if (json === null) return new ListingModel(PER_PAGE);
    try {
      return new ListingModel(PER_PAGE, JSON.parse(json) as ListingSnapshot);
    } catch {
      return new ListingModel(PER_PAGE);
    }
  }

  private async saveModel(): Promise<void> {
    if (this.model === undefined) return;
    await this.options.redis.set(this.keys.listing, JSON.stringify(this.model.snapshot()), 'PX', 86_400_000);
  }

  private logShort(report: SweepReport): void {
    const now = Date.now();
    if (now - this.shortLoggedAt < SHORT_LOG_EVERY_MS) return;
    this.shortLoggedAt = now;
    this.options.logger.info(
      {
        profile: report.profile,
        due: report.due,
        held: report.held,
        allowance: report.allowance,
        pagesRead: report.pagesRead,
        direct: report.direct,
      },
      `request budget short: observing ${report.due - report.held} of ${report.due} due watches now, holding ${report.held} whose actions are least likely to have ended`,
    );
  }
}
