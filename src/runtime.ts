import { type Config, requireToken } from './config/config.js';
import { DigitalOceanClient } from './digitalocean/client.js';
import { RequestBudget } from './digitalocean/request-budget.js';
import type { Logger } from './logging/logger.js';
import { createRedis, type Redis } from './support/redis.js';
import { type ActionObserver, DirectObserver } from './watches/action-observer.js';
import type { OutcomeSink } from './watches/outcome-sink.js';
import { type WaitOptions, waitForOutcome } from './watches/outcome-waiter.js';
import type { OutcomeRecord } from './watches/watch.js';
import { WatchProcessor } from './watches/watch-processor.js';
import { WatchQueue } from './watches/watch-queue.js';
import { WatchWorker } from './watches/watch-worker.js';

export interface WorkerOptions {
  concurrency?: number;
  sinks?: OutcomeSink[];
  /** Replace the one-GET-per-poll observer (tests, or a batching observer). */
  observer?: ActionObserver;
}

/**
 * The composition root: builds the Redis connections, the shared budget, the DigitalOcean client
 * and the watch queue from one Config, and owns their lifetimes. The CLI, the HTTP server and the
 * library all start here.
 */
export class Runtime {
  readonly redis: Redis;
  readonly watches: WatchQueue;
  private readonly workerConnections: Redis[] = [];
  private readonly workers: WatchWorker[] = [];

  constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {
    this.redis = createRedis(config.redisUrl, { connectionName: `${config.prefix}:client` });
    this.redis.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error'));
    this.watches = new WatchQueue(this.redis, {
      prefix: config.prefix,
      defaultTimeoutMs: config.watch.defaultTimeoutMs,
      retentionMs: config.watch.retentionMs,
      firstPollDelayMs: config.schedule.firstDelayMs,
      eventsMaxLength: config.events.maxLength,
    });
  }

  /** The shared per-token budget every process using this token draws from. */
  budget(profile = 'default'): RequestBudget {
    return new RequestBudget(this.redis, {
      prefix: this.config.prefix,
      profile,
      perMinute: this.config.rateLimit.perMinute,
      perHour: this.config.rateLimit.perHour,
      headroom: this.config.rateLimit.headroom,
    });
  }

  /** A client metered by the shared budget. Throws ConfigError when no token is configured. */
  client(options: { budgetWaitMs?: number } = {}): DigitalOceanClient {
    const token = requireToken(this.config);
    return new DigitalOceanClient({
      baseUrl: this.config.digitalocean.apiUrl,
      token,
      timeoutMs: this.config.digitalocean.timeoutMs,
      retries: this.config.digitalocean.retries,
      // Retries stay well inside the job lock, so a slow poll is never mistaken for a dead worker.
      maxRetryTimeMs: Math.floor(this.config.worker.lockDurationMs / 2),
      gate: this.budget(),
      logger: this.logger,
      ...(options.budgetWaitMs === undefined ? {} : { budgetWaitMs: options.budgetWaitMs }),
    });
  }

  async startWorker(options: WorkerOptions = {}): Promise<WatchWorker> {
    const processor = new WatchProcessor({
      observer: options.observer ?? new DirectObserver(this.client()),
      outcomes: this.watches.outcomes,
      schedule: this.config.schedule,
      logger: this.logger,
      sinks: options.sinks ?? [],
    });
    const connection = createRedis(this.config.redisUrl, {
      forWorker: true,
      connectionName: `${this.config.prefix}:worker`,
    });
    this.workerConnections.push(connection);
    const worker = new WatchWorker({
      connection,
      prefix: this.config.prefix,
      processor,
      logger: this.logger,
      concurrency: options.concurrency ?? this.config.worker.concurrency,
      lockDurationMs: this.config.worker.lockDurationMs,
    });
    await worker.start();
    this.workers.push(worker);
    return worker;
  }

  waitForOutcome(watchId: string, options: WaitOptions = {}): Promise<OutcomeRecord | undefined> {
    return waitForOutcome(this.redis, this.config.prefix, this.watches.outcomes, watchId, options);
  }

  /** Stops workers gracefully (in-flight polls finish), then closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close()));
    await this.watches.close();
    for (const connection of [...this.workerConnections, this.redis]) {
      await connection.quit().catch(() => connection.disconnect());
    }
  }
}
