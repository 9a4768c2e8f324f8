import type { Config } from '../../src/config/config.js';
import { type BudgetDecision, RequestBudget } from '../../src/digitalocean/request-budget.js';
import type { Logger } from '../../src/logging/logger.js';
import { Runtime } from '../../src/runtime.js';

/**
 * Simulated time running `factor` times faster than the wall clock from `originMs` on. The
 * simulator runs on it (action durations, timestamps and its 250/min and 5,000/h windows), and so
 * do the workers' request budgets and planner; job delays and poll intervals stay on the wall
 * clock, with the poll schedule divided by the same factor.
 */
export class CompressedClock {
  constructor(
    readonly originMs: number,
    readonly factor: number,
  ) {}

  readonly now = (): number => this.simulated(Date.now());

  simulated(wallMs: number): number {
    return this.originMs + (wallMs - this.originMs) * this.factor;
  }

  /** A simulated span in wall-clock milliseconds. */
  wall(simulatedMs: number): number {
    return simulatedMs / this.factor;
  }

  env(): Record<string, string> {
    return { FLEET_BENCH_ORIGIN_MS: String(this.originMs), FLEET_BENCH_FACTOR: String(this.factor) };
  }

  static fromEnv(env: Record<string, string | undefined>): CompressedClock {
    const origin = Number(env.FLEET_BENCH_ORIGIN_MS);
    const factor = Number(env.FLEET_BENCH_FACTOR);
    if (!Number.isFinite(origin) || !(factor > 0)) {
      throw new Error('FLEET_BENCH_ORIGIN_MS and FLEET_BENCH_FACTOR must be set');
    }
    return new CompressedClock(origin, factor);
  }
}

/** The shared budget, counting in simulated windows and answering waits in wall-clock time. */
class CompressedBudget extends RequestBudget {
  constructor(...[redis, options, factor]: [...ConstructorParameters<typeof RequestBudget>, number]) {
    super(redis, options);
    this.factor = factor;
  }

  private readonly factor: number;

  override async tryAcquire(): Promise<BudgetDecision> {
    const decision = await super.tryAcquire();
    return decision.granted ? decision : { ...decision, waitMs: Math.max(1, decision.waitMs / this.factor) };
  }
}

/** The product's Runtime with its request budgets on the compressed clock. */
export class CompressedRuntime extends Runtime {
  constructor(
    config: Config,
    logger: Logger,
    private readonly clock: CompressedClock,
  ) {
    super(config, logger);
  }

  override budget(profile = 'default'): RequestBudget {
    return new CompressedBudget(
      this.redis,
      {
        prefix: this.config.prefix,
        profile,
        perMinute: this.config.rateLimit.perMinute,
        perHour: this.config.rateLimit.perHour,
        headroom: this.config.rateLimit.headroom,
        now: this.clock.now,
      },
      this.clock.factor,
    );
  }
}
