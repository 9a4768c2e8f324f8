import { EventEmitter } from 'node:events';
import type { PollSchedule } from '../config/config.js';
import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { RequestBudget } from '../digitalocean/request-budget.js';
import type { Logger } from '../logging/logger.js';
import type { Redis } from '../support/redis.js';
import { outcomeKey } from '../watches/keys.js';
import { type DueFacts, type DueSorting, type DueWatch, refsOf, sortDue } from './due-watches.js';
import type { DurationLearner } from './duration-learner.js';
import { type FleetKeys, fleetKeys } from './fleet-keys.js';
import { JobPromoter } from './job-promoter.js';
import { Lease } from './lease.js';
import { ListHealth } from './list-health.js';
import { ListReader, loadListingModel } from './list-reader.js';
import type { ListingModel } from './listing-model.js';
import { ObservationStore } from './observation-store.js';
import { estimatePages } from './page-estimates.js';
import { PageRecorder, type RoundView } from './page-recorder.js';
import { plan } from './planner.js';
import { deferUnread, type RoundTiming } from './round-settlement.js';
import { SweepPacer } from './sweep-pacer.js';
import { emptySweepReport, type SweepReport } from './sweep-report.js';
import { WatchRegistry } from './watch-registry.js';
import { WatchedActions } from './watched-actions.js';

export { emptySweepReport, type SweepReport } from './sweep-report.js';

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

export interface SweeperEvents {
  round: [SweepReport];
}

const MAX_DUE_PER_ROUND = 50_000;
const PRUNE_EVERY_MS = 60_000;
const SHORT_LOG_EVERY_MS = 30_000;

/** What Redis holds about a round's due watches, with their actions' recorded places. */
type RoundFacts = DueFacts & { positions: Map<number, number> };

/**
 * Observes one token profile's watched actions through list requests, for every worker: whichever
 * worker holds the profile's lease runs a round each tick. A round sorts the watches due for an
 * observation (`sortDue`), paces the budget (`SweepPacer`), lets the planner choose listing pages,
 * resource lists and single GETs within it (`plan`), reads the lists (`ListReader`, recording each
 * watched action seen once and moving its watches' due times on), and promotes the jobs of
 * watches whose action ended (or that must now GET themselves) so they run at once.
 */
export class Sweeper extends EventEmitter<SweeperEvents> {
  private readonly keys: FleetKeys;
  private readonly lease: Lease;
  private readonly registry: WatchRegistry;
  private readonly store: ObservationStore;
  private readonly promoter: JobPromoter;
  private readonly pacer: SweepPacer;
  private readonly health: ListHealth;
  private readonly watched: WatchedActions;
  private readonly lists: ListReader;
  /** What this lease holder learned about the account listing; read again when the lease is retaken. */
  private model: ListingModel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private prunedAt = 0;
  private shortLoggedAt = 0;

  constructor(private readonly options: SweeperOptions) {
    super();
    this.keys = fleetKeys(options.prefix, options.profile);
    this.lease = new Lease(options.redis, this.keys.lease, options.leaseTtlMs);
    this.registry = new WatchRegistry(options.redis, this.keys);
    this.store = new ObservationStore(options.redis, this.keys);
    this.promoter = new JobPromoter(options.redis, options.prefix, options.profile, options.queueName);
    this.pacer = new SweepPacer({
      schedule: options.schedule,
      tickMs: options.tickMs,
      reservedForOthers: options.reservedForOthers,
      learner: options.learner,
      apiClock: options.apiClock,
      startedAt: { wall: Date.now(), api: options.apiClock() },
    });
    this.health = new ListHealth(options.tickMs);
    this.watched = new WatchedActions(this.registry);
    const recorder = new PageRecorder({
      store: this.store,
      registry: this.registry,
      learner: options.learner,
      watched: this.watched,
      promoter: this.promoter,
      schedule: options.schedule,
      apiClock: options.apiClock,
      keepAlive: () => this.keepAlive(),
    });
    this.lists = new ListReader({
      client: options.client,
      redis: options.redis,
      listingKey: this.keys.listing,
      store: this.store,
      recorder,
      health: this.health,
      logger: options.logger,
      profile: options.profile,
    });
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
    if (this.lease.held) await this.registry.clearSwept().catch(() => {});
    await this.lease.release().catch(() => {});
    await this.promoter.close();
  }

  /**
   * One tick: take or keep the lease, then run a round if anything is due. A failure is logged;
   * a failed round's due watches fall back to their own GETs. Public for tests.
   */
  async tick(): Promise<SweepReport | undefined> {
    try {
      const taken = await this.takeDue();
      if (taken === undefined) return undefined;
      const report = await this.roundOrFallBack(taken.watchIds, taken.model);
      if (report === 'failed') return undefined;
      if (report !== undefined) this.emit('round', report);
      await this.afterRound();
      return report;
    } catch (error) {
      this.logFailure(error);
      return undefined;
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.options.tickMs);
      });
    }, delayMs);
  }

  /** Takes or keeps the lease; then the watches due by the nearest round, and the listing model. */
  private async takeDue(): Promise<{ watchIds: string[]; model: ListingModel } | undefined> {
    if (!(await this.lease.acquire())) {
      this.model = undefined;
      return undefined;
    }
    this.model ??= await loadListingModel(this.options.redis, this.keys.listing);
    const model = this.model;
    await this.options.learner.refresh();
    const now = Date.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) await this.prune(now);
    // Due within half a tick: each watch is taken by the round nearest its time, not a tick early.
    const due = await this.registry.dueBy(now + this.options.tickMs / 2, MAX_DUE_PER_ROUND);
    return { watchIds: due.map((entry) => entry.watchId), model };
  }

  private async roundOrFallBack(
    watchIds: string[],
    model: ListingModel,
  ): Promise<SweepReport | undefined | 'failed'> {
    if (watchIds.length === 0) return undefined;
    try {
      return await this.round(watchIds, model);
    } catch (error) {
      this.logFailure(error);
      await this.fallBack(watchIds).catch((fallBackError: unknown) =>
        this.options.logger.warn(
          { profile: this.options.profile, err: messageOf(fallBackError), watches: watchIds.length },
          'handing a failed round’s watches to their own GETs failed; they poll by themselves when their jobs wake',
        ),
      );
      return 'failed';
    }
  }

  private logFailure(error: unknown): void {
    this.options.logger.warn(
      { profile: this.options.profile, err: messageOf(error) },
      'sweep round failed; watches fall back to their own GETs until a round succeeds',
    );
  }

  /** After a round that went through: tell watches to wait for sweeps, unless the token was refused. */
  private async afterRound(): Promise<void> {
    const refused = this.health.refused;
    if (refused !== undefined) {
      await this.giveUp(refused);
      return;
    }
    // Only a sweeper whose rounds go through tells watches to wait for it.
    await this.registry.markSwept(this.options.leaseTtlMs);
  }

  /**
   * The token may not list actions (revoked, or scoped without actions:read): retrying would only
   * repeat the refusal. This process stops sweeping and lets the lease go; with no sweeper healthy
   * the watches poll with their own GETs, which stop that worker too if the token itself is bad.
   */
  private async giveUp(refused: string): Promise<void> {
    this.stopped = true;
    this.options.logger.error(
      { profile: this.options.profile, err: refused },
      'DigitalOcean refused this token a list of actions; this worker stops sweeping and its watches poll with their own GETs (restart workers once the token or its scopes are fixed)',
    );
    await this.registry.clearSwept();
    await this.lease.release();
  }

  /** Keeps the lease through a long round, and with it the word that sweeps go through. */
  private async keepAlive(): Promise<void> {
    if (await this.lease.keep()) await this.registry.markSwept(this.options.leaseTtlMs);
  }

  private async round(watchIds: string[], model: ListingModel): Promise<SweepReport> {
    const now = Date.now();
    const apiNow = this.options.apiClock();
    const report = emptySweepReport(this.options.profile);
    const facts = await this.readFacts(watchIds);
    const sorting = sortDue(watchIds, facts, {
      now,
      apiNow,
      tickMs: this.options.tickMs,
      sleepMs: this.options.sleepMs,
      schedule: this.options.schedule,
      cadence: this.pacer.cadence,
      odds: this.options.learner,
    });
    report.due = sorting.targets.length;
    await this.registry.remove(sorting.gone);
    report.promoted += await this.promoter.promote(sorting.ended);
    if (sorting.targets.length === 0) {
      await this.registry.setDue(sorting.due);
      return report;
    }
    await this.observe(sorting, model, facts.positions, report, apiNow, { now, tickMs: this.options.tickMs });
    return report;
  }

  /** Plans the observations of the round's targets within the budget, makes them, and moves due times on. */
  private async observe(
    sorting: DueSorting,
    model: ListingModel,
    positions: ReadonlyMap<number, number>,
    report: SweepReport,
    apiNow: number,
    timing: RoundTiming,
  ): Promise<void> {
    const { targets } = sorting;
    const { now } = timing;
    if (this.health.listsUsable(now)) estimatePages(targets, model, positions, now);
    const pacing = this.pacer.pace(targets, await this.options.budget.usage(), now, apiNow);
    const { allowance, pace, perMinute, boundMs, passRequests } = pacing;
    Object.assign(report, { allowance, pace, perMinute, boundMs, passRequests });
    const chosen = plan({
      targets,
      allowance,
      resourceLists: this.health.resourceListsUsable(now),
      minWorth: pacing.minWorth,
    });
    report.short = chosen.short;
    report.held = chosen.held.length;
    report.waiting = chosen.waiting.length;
    const due = new Map([...sorting.due, ...deferUnread(chosen, pacing.cadence.cycleMs, timing)]);
    const round: RoundView = {
      watches: new Map(targets.map((target) => [target.watchId, target.watch])),
      cadence: pacing.cadence,
    };
    const account = await this.lists.readAccountPages(chosen, model, positions, round, report, timing);
    const resources = await this.lists.readResourceLists(chosen, round, report, timing);
    report.viaAccountList += account.seen;
    report.viaResourceList += resources.seen;
    for (const [watchId, at] of [...account.due, ...resources.due]) due.set(watchId, at);
    const direct = new Set([
      ...chosen.direct.map((target) => target.watchId),
      ...account.direct,
      ...resources.direct,
    ]);
    for (const [watchId, at] of await this.leaveToOwnGet(direct, round.watches, now, report))
      due.set(watchId, at);
    this.pacer.spend(report.pagesRead + report.resourceListsRead + report.direct);
    await this.registry.setDue(due);
    if (report.short) this.logShort(report);
    this.logRound(report);
  }

  private async readFacts(watchIds: readonly string[]): Promise<RoundFacts> {
    const refs = refsOf(watchIds);
    const actionIds = [...new Set([...refs.values()].map((ref) => ref.actionId))];
    const [entries, directs, outcomes, observations, positions] = await Promise.all([
      this.registry.entries(watchIds),
      this.registry.directUntil(watchIds),
      this.recordedOutcomes(watchIds),
      this.store.getMany(actionIds),
      this.store.positions(actionIds),
    ]);
    return { refs, entries, directs, outcomes, observations, positions };
  }

  /**
   * These watches poll with their own GET for one interval: marked so (their next step GETs), and
   * woken now if their job sleeps past the time they need an observation by. Resolves with their
   * new due times.
   */
  private async leaveToOwnGet(
    watchIds: ReadonlySet<string>,
    watches: ReadonlyMap<string, DueWatch>,
    now: number,
    report: SweepReport,
  ): Promise<Map<string, number>> {
    const until = new Map<string, number>();
    const wake: string[] = [];
    for (const watchId of watchIds) {
      const watch = watches.get(watchId);
      if (watch === undefined) continue;
      until.set(watchId, now + watch.interval);
      if (watch.entry.wakeAt > now + this.options.tickMs) wake.push(watchId);
    }
    report.direct = until.size;
    await this.registry.setDirect(until);
    report.promoted += await this.promoter.promote(wake);
    return until;
  }

  /** After a failed round: its due watches poll with their own GET for a while, starting now. */
  private async fallBack(watchIds: readonly string[]): Promise<void> {
    await this.registry.clearSwept();
    const until = Date.now() + this.options.schedule.maxIntervalMs;
    await this.registry.setDirect(new Map(watchIds.map((watchId) => [watchId, until])));
    await this.promoter.promote(watchIds);
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
    this.lists.forgetMisses();
    this.watched.forget();
    const watched = await this.watched.get(now, []);
    await this.store.prune(new Set(watched.keys()));
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
