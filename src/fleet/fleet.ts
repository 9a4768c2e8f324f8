import { EventEmitter } from 'node:events';
import type { PollSchedule } from '../config/config.js';
import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { RequestBudget } from '../digitalocean/request-budget.js';
import type { Logger } from '../logging/logger.js';
import type { Redis } from '../support/redis.js';
import { type ActionObserver, DirectObserver } from '../watches/action-observer.js';
import { BatchedObserver } from './batched-observer.js';
import { DurationLearner } from './duration-learner.js';
import { Sweeper, type SweepReport } from './sweeper.js';

export interface FleetOptions {
  /** A plain (non-blocking) connection, shared by observers and sweepers. */
  redis: Redis;
  prefix: string;
  schedule: PollSchedule;
  logger: Logger;
  /**
   * The clock of DigitalOcean's timestamps and rate windows; Date.now unless a benchmark runs the
   * simulator on a compressed clock.
   */
  apiClock?: () => number;
}

export interface ProfileSetup {
  profile: string;
  /** The watch id's profile part: undefined for the default profile. */
  tokenProfile: string | undefined;
  queueName: string;
  client: DigitalOceanClient;
  budget: RequestBudget;
  /** Requests per hour the configured headroom keeps for other users of the token. */
  reservedForOthers: number;
}

export interface FleetEvents {
  /** One planning round of one profile (only rounds with watches due). */
  round: [SweepReport];
}

/** The round counters that add up across rounds. */
const COUNTED = [
  'due',
  'pagesRead',
  'resourceListsRead',
  'viaAccountList',
  'viaResourceList',
  'direct',
  'held',
  'observed',
  'promoted',
] as const;

/** Totals since this process started: what the sweepers it ran did. */
export type FleetTotals = Pick<SweepReport, (typeof COUNTED)[number]> & {
  rounds: number;
  shortRounds: number;
  listFailures: number;
};

/**
 * Batched observation for one process: per token profile, an observer for its watches and a
 * sweeper that competes for the profile's lease (whichever worker holds it sweeps for all).
 * Timings follow the poll schedule: a round every half minimum interval (at most a second), and
 * looked-after watches wake by themselves every ten maximum intervals as a safety net.
 */
export class Fleet extends EventEmitter<FleetEvents> {
  readonly tickMs: number;
  readonly sleepMs: number;
  readonly leaseTtlMs: number;
  readonly totals: FleetTotals = {
    rounds: 0,
    shortRounds: 0,
    listFailures: 0,
    ...(Object.fromEntries(COUNTED.map((name) => [name, 0])) as Pick<FleetTotals, (typeof COUNTED)[number]>),
  };
  private readonly learner: DurationLearner;
  private readonly sweepers: Sweeper[] = [];
  /** Sweepers' own connection: their rounds do not queue behind the job steps of this process. */
  private sweeperRedis: Redis | undefined;
  private readonly apiClock: () => number;

  constructor(private readonly options: FleetOptions) {
    super();
    const { minIntervalMs, maxIntervalMs } = options.schedule;
    this.tickMs = Math.min(1_000, Math.max(50, Math.round(minIntervalMs / 2)));
    this.sleepMs = Math.max(10 * maxIntervalMs, 20 * this.tickMs);
    this.leaseTtlMs = Math.max(5_000, 20 * this.tickMs);
    this.apiClock = options.apiClock ?? Date.now;
    this.learner = new DurationLearner(options.redis, options.prefix);
  }

  /** The observer for one profile's watches; also starts that profile's sweeper in this process. */
  observer(setup: ProfileSetup): ActionObserver {
    if (this.sweeperRedis === undefined) {
      this.sweeperRedis = this.options.redis.duplicate();
      this.sweeperRedis.on('error', (error) =>
        this.options.logger.debug({ err: error.message }, 'redis connection error (sweeper)'),
      );
    }
    const sweeper = new Sweeper({
      redis: this.sweeperRedis,
      prefix: this.options.prefix,
      profile: setup.profile,
      queueName: setup.queueName,
      client: setup.client,
      budget: setup.budget,
      schedule: this.options.schedule,
      learner: this.learner,
      logger: this.options.logger,
      tickMs: this.tickMs,
      leaseTtlMs: this.leaseTtlMs,
      sleepMs: this.sleepMs,
      reservedForOthers: setup.reservedForOthers,
      apiClock: this.apiClock,
    });
    sweeper.on('round', (report) => this.count(report));
    this.sweepers.push(sweeper);
    sweeper.start();
    return new BatchedObserver({
      redis: this.options.redis,
      prefix: this.options.prefix,
      profile: setup.profile,
      tokenProfile: setup.tokenProfile,
      direct: new DirectObserver(setup.client),
      schedule: this.options.schedule,
      learner: this.learner,
      sleepMs: this.sleepMs,
      apiClock: this.apiClock,
    });
  }

  /** Profiles whose lease this process holds: it sweeps for every worker of those. */
  get leading(): string[] {
    return this.sweepers.filter((sweeper) => sweeper.leading).map((sweeper) => sweeper.profile);
  }

  /** Stops every sweeper of this process and gives their leases up. */
  async close(): Promise<void> {
    await Promise.all(this.sweepers.map((sweeper) => sweeper.stop()));
    this.sweepers.length = 0;
    await this.sweeperRedis?.quit().catch(() => this.sweeperRedis?.disconnect());
    this.sweeperRedis = undefined;
  }

  private count(report: SweepReport): void {
    const totals = this.totals;
    totals.rounds++;
    if (report.short) totals.shortRounds++;
    if (report.listFailure !== undefined) totals.listFailures++;
    for (const name of COUNTED) totals[name] += report[name];
    this.emit('round', report);
  }
}
