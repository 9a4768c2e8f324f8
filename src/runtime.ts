import { EventEmitter } from 'node:events';
import type { ChainOutcomeRecord } from './chains/chain.js';
import { ChainProcessor } from './chains/chain-processor.js';
import { ChainQueue } from './chains/chain-queue.js';
import type { ChainOutcomeSink } from './chains/chain-sink.js';
import { waitForChainOutcome } from './chains/chain-waiter.js';
import { ChainWorker } from './chains/chain-worker.js';
import { type Config, type ObserveMode, requireProfileToken, runTokenPurpose } from './config/config.js';
import { DigitalOceanClient, type DigitalOceanClientOptions } from './digitalocean/client.js';
import { RequestBudget } from './digitalocean/request-budget.js';
import { Fleet } from './fleet/fleet.js';
import type { Logger } from './logging/logger.js';
import type { Metrics } from './metrics/metrics.js';
import type { WaitOptions } from './notifications/event-feed.js';
import { EventFeed } from './notifications/event-feed.js';
import { ChainWebhookSink } from './notifications/webhooks/chain-webhook-sink.js';
import { DeliveryQueue } from './notifications/webhooks/delivery-queue.js';
import { DeliveryWorker } from './notifications/webhooks/delivery-worker.js';
import { type RetrySchedule, retrySchedule } from './notifications/webhooks/retry-schedule.js';
import { WebhookSigner } from './notifications/webhooks/webhook-signer.js';
import { WebhookSink, type WebhookSinkOptions } from './notifications/webhooks/webhook-sink.js';
import { configuredTargets } from './notifications/webhooks/webhook-targets.js';
import { ActionStarter } from './runs/action-starter.js';
import { createRedis, logConnectionHealth, type Redis } from './support/redis.js';
import { type ActionObserver, DirectObserver } from './watches/action-observer.js';
import { DeletionObserver } from './watches/deletion-observer.js';
import { watchQueueName, watchQueuePrefix } from './watches/keys.js';
import type { OutcomeSink } from './watches/outcome-sink.js';
import { type OutcomeWaitOptions, waitForOutcome } from './watches/outcome-waiter.js';
import type { OutcomeRecord } from './watches/watch.js';
import { WatchProcessor } from './watches/watch-processor.js';
import { WatchQueue } from './watches/watch-queue.js';
import { DEFAULT_TOKEN_PROFILE } from './watches/watch-ref.js';
import { WatchWorker } from './watches/watch-worker.js';

export interface WorkerOptions {
  concurrency?: number;
  sinks?: OutcomeSink[];
  /** Replace the default token's observer (tests). */
  observer?: ActionObserver;
  /** Batched (shared list sweeps) or direct (one GET per poll); default OBSERVE_MODE. */
  observeMode?: ObserveMode;
  /**
   * The clock of DigitalOcean's timestamps and rate windows, for batched mode's planner; Date.now
   * unless a benchmark runs the simulator on a compressed clock.
   */
  apiClock?: () => number;
  /** Count this worker's polls, outcomes, DigitalOcean responses and pauses. */
  metrics?: Metrics;
  /**
   * Queue webhook messages for every outcome (the webhook sink runs first) and send them from
   * this process too (one delivery worker per Runtime). Default true.
   */
  webhooks?: boolean;
}

/** DigitalOcean refused the token of a worker running in this process (401/403). */
export interface TokenRejection {
  /** The variable holding the refused token. */
  variable: string;
  status: number | undefined;
}

export interface RuntimeEvents {
  'token-rejected': [TokenRejection];
}

export interface DeliveryWorkerStartOptions {
  concurrency?: number;
  /** Overrides of the retry schedule (tests use short delays); the span is WEBHOOK_RETRY_SPAN. */
  retry?: Partial<RetrySchedule>;
}

/**
 * The composition root: builds the Redis connections, the shared budget, the DigitalOcean client
 * and the watch queue from one Config, and owns their lifetimes. The CLI, the HTTP server and the
 * library all start here.
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly redis: Redis;
  readonly watches: WatchQueue;
  private readonly workerConnections: Redis[] = [];
  private readonly workers: WatchWorker[] = [];
  private deliveryQueue: DeliveryQueue | undefined;
  private deliveryWorker: DeliveryWorker | undefined;
  private fleet: Fleet | undefined;
  private chainQueue: ChainQueue | undefined;
  private readonly chainWorkers: ChainWorker[] = [];
  private eventFeed: EventFeed | undefined;
  private firstTokenRejection: TokenRejection | undefined;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {
    super();
    this.redis = createRedis(config.redis, { connectionName: `${config.prefix}:client` });
    logConnectionHealth(this.redis, config.redis, logger);
    if (config.redis.tls?.rejectUnauthorized === false)
      logger.warn("REDIS_TLS_REJECT_UNAUTHORIZED=false: the Redis server's certificate is not checked");
    this.watches = new WatchQueue(this.redis, {
      prefix: config.prefix,
      defaultTimeoutMs: config.watch.defaultTimeoutMs,
      retentionMs: config.watch.retentionMs,
      firstPollDelayMs: config.schedule.firstDelayMs,
      eventsMaxLength: config.events.maxLength,
      tokenProfiles: Object.keys(config.digitalocean.profiles),
    });
  }

  /**
   * Batched observation in this process (its sweepers and planner), once a worker started in
   * batched mode: listen to its `round` events or read its `totals` for metrics.
   */
  get batching(): Fleet | undefined {
    return this.fleet;
  }

  /** The first token refusal a worker of this process met (it is also emitted as `token-rejected`). */
  get tokenRejection(): TokenRejection | undefined {
    return this.firstTokenRejection;
  }

  private tokenRejected(rejection: TokenRejection): void {
    this.firstTokenRejection ??= rejection;
    this.emit('token-rejected', rejection);
  }

  /** The shared per-token budget every process using this token draws from. */
  budget(profile = 'default'): RequestBudget {
    return new RequestBudget(this.redis, {
      prefix: this.config.prefix,
      profile,
      perMinute: this.config.rateLimit.perMinute,
      perHour: this.config.rateLimit.perHour,
      headroom: this.config.rateLimit.headroom,
      // Every response carries ratelimit-*; while plenty remains, one Redis write a second of them
      // is enough (the requests granted since are counted against it), and it spares one round
      // trip per poll. Near the headroom or pacing levels every one is stored again.
      observeEveryMs: 1_000,
    });
  }

  /** A client metered by the shared budget. Throws ConfigError when no token is configured. */
  client(
    options: {
      budgetWaitMs?: number;
      onResponse?: DigitalOceanClientOptions['onResponse'];
      /** Use this token profile's token and budget (DIGITALOCEAN_TOKEN_<NAME>); default DIGITALOCEAN_TOKEN. */
      tokenProfile?: string | undefined;
    } = {},
  ): DigitalOceanClient {
    const token = requireProfileToken(this.config, options.tokenProfile);
    return new DigitalOceanClient({
      baseUrl: this.config.digitalocean.apiUrl,
      token,
      timeoutMs: this.config.digitalocean.timeoutMs,
      retries: this.config.digitalocean.retries,
      // Retries stay well inside the job lock, so a slow poll is never mistaken for a dead worker.
      maxRetryTimeMs: Math.floor(this.config.worker.lockDurationMs / 2),
      gate: this.budget(options.tokenProfile ?? DEFAULT_TOKEN_PROFILE),
      logger: this.logger,
      ...(options.budgetWaitMs === undefined ? {} : { budgetWaitMs: options.budgetWaitMs }),
      ...(options.onResponse === undefined ? {} : { onResponse: options.onResponse }),
    });
  }

  /**
   * Starts a watch worker for the default token and one for each token profile configured (each
   * profile's watches have a queue of their own), and returns the default token's.
   */
  async startWorker(options: WorkerOptions = {}): Promise<WatchWorker> {
    const named = Object.keys(this.config.digitalocean.profiles);
    const [worker] = await Promise.all(
      [undefined, ...named].map((tokenProfile) => this.startProfileWorker(tokenProfile, options)),
    );
    if (options.webhooks !== false) {
      const deliveryWorker = await this.startDeliveryWorker();
      options.metrics?.observeDeliveries(deliveryWorker.worker);
    }
    return worker as WatchWorker;
  }

  private async startProfileWorker(
    tokenProfile: string | undefined,
    options: WorkerOptions,
  ): Promise<WatchWorker> {
    const processor = new WatchProcessor({
      observer:
        (tokenProfile === undefined ? options.observer : undefined) ?? this.observer(tokenProfile, options),
      deletions: new DeletionObserver(this.workerClient(tokenProfile, options)),
      outcomes: this.watches.outcomes,
      schedule: this.config.schedule,
      logger: this.logger,
      sinks: [...(options.webhooks === false ? [] : [this.webhookSink()]), ...(options.sinks ?? [])],
    });
    const connection = createRedis(this.config.redis, {
      forWorker: true,
      connectionName: `${this.config.prefix}:worker`,
    });
    this.workerConnections.push(connection);
    const tokenVariable =
      tokenProfile === undefined ? 'DIGITALOCEAN_TOKEN' : `DIGITALOCEAN_TOKEN_${tokenProfile.toUpperCase()}`;
    const worker = new WatchWorker({
      connection,
      prefix: watchQueuePrefix(this.config.prefix, tokenProfile),
      processor,
      logger: this.logger,
      concurrency: options.concurrency ?? this.config.worker.concurrency,
      lockDurationMs: this.config.worker.lockDurationMs,
      retentionMs: this.config.watch.retentionMs,
      queueName: watchQueueName(tokenProfile),
      tokenVariable,
    });
    worker.on('token-rejected', (error) =>
      this.tokenRejected({ variable: tokenVariable, status: error.apiError.status }),
    );
    options.metrics?.observeProcessor(processor);
    options.metrics?.observeWorker(worker);
    await worker.start();
    this.workers.push(worker);
    return worker;
  }

  /** The client a worker of one token profile polls with (its responses counted in the metrics). */
  private workerClient(tokenProfile: string | undefined, options: WorkerOptions): DigitalOceanClient {
    return this.client({
      tokenProfile,
      ...(options.metrics === undefined ? {} : { onResponse: options.metrics.digitalOceanResponse }),
    });
  }

  /** How one token profile's watches are observed: shared list sweeps, or one GET per poll. */
  private observer(tokenProfile: string | undefined, options: WorkerOptions): ActionObserver {
    const client = this.workerClient(tokenProfile, options);
    if ((options.observeMode ?? this.config.observe.mode) === 'direct')
      return new DirectObserver(client, this.watches.durations);
    this.fleet ??= new Fleet({
      redis: this.redis,
      prefix: this.config.prefix,
      schedule: this.config.schedule,
      logger: this.logger,
      ...(options.apiClock === undefined ? {} : { apiClock: options.apiClock }),
    });
    options.metrics?.observeFleet(this.fleet);
    const profile = tokenProfile ?? DEFAULT_TOKEN_PROFILE;
    const budget = this.budget(profile);
    return this.fleet.observer({
      profile,
      tokenProfile,
      queueName: watchQueueName(tokenProfile),
      client,
      budget,
      reservedForOthers: this.config.rateLimit.perHour - budget.hourLimit,
    });
  }

  /** The `deliveries` queue of webhook messages (created on first use). */
  deliveries(): DeliveryQueue {
    this.deliveryQueue ??= new DeliveryQueue(this.redis, {
      prefix: this.config.prefix,
      completedRetentionMs: this.config.watch.retentionMs,
    });
    return this.deliveryQueue;
  }

  /** The outcome sink that queues a webhook message per outcome and target. */
  webhookSink(): WebhookSink {
    return new WebhookSink(this.webhookSinkOptions());
  }

  /** The chain outcome sink that queues a `chain.*` message per chain outcome and target. */
  chainWebhookSink(): ChainWebhookSink {
    return new ChainWebhookSink(this.webhookSinkOptions());
  }

  private webhookSinkOptions(): WebhookSinkOptions {
    const { url, alertUrl, alertFormat, urlOn, alertOn } = this.config.webhooks;
    return {
      deliveries: this.deliveries(),
      targets: configuredTargets({ url, alertUrl, alertFormat, urlOn, alertOn }),
      logger: this.logger,
    };
  }

  /** Starts this process's webhook delivery worker, or returns the one already started. */
  async startDeliveryWorker(options: DeliveryWorkerStartOptions = {}): Promise<DeliveryWorker> {
    if (this.deliveryWorker !== undefined) return this.deliveryWorker;
    const connection = createRedis(this.config.redis, {
      forWorker: true,
      connectionName: `${this.config.prefix}:deliveries`,
    });
    this.workerConnections.push(connection);
    const { webhooks } = this.config;
    this.deliveryWorker = new DeliveryWorker({
      connection,
      prefix: this.config.prefix,
      deliveries: this.deliveries(),
      signer: new WebhookSigner(webhooks.secret),
      logger: this.logger,
      timeoutMs: webhooks.timeoutMs,
      allowPrivate: webhooks.allowPrivate,
      schedule: retrySchedule(webhooks.retrySpanMs, options.retry),
      lockDurationMs: this.config.worker.lockDurationMs,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    });
    await this.deliveryWorker.start();
    return this.deliveryWorker;
  }

  /**
   * This process's one reader of the events stream: every wait and live stream of the process
   * shares its single blocking connection. Reading starts with the first waiter or subscriber.
   */
  get events(): EventFeed {
    this.eventFeed ??= new EventFeed({
      redis: this.redis,
      connect: () => createRedis(this.config.redis, { connectionName: `${this.config.prefix}:events` }),
      prefix: this.config.prefix,
      logger: this.logger,
    });
    return this.eventFeed;
  }

  waitForOutcome(watchId: string, options: OutcomeWaitOptions = {}): Promise<OutcomeRecord | undefined> {
    return waitForOutcome(this.events, this.watches.outcomes, watchId, options);
  }

  waitForChainOutcome(chainId: string, options: WaitOptions = {}): Promise<ChainOutcomeRecord | undefined> {
    return waitForChainOutcome(this.events, this.chains().outcomes, chainId, options);
  }

  /**
   * Starts actions once per idempotency key, with DIGITALOCEAN_TOKEN or, given `tokenProfile`,
   * with that profile's token and budget (and its own key space). Throws ConfigError naming the
   * variable when that token is not configured, before anything is sent.
   */
  actionStarter(options: { tokenProfile?: string | undefined } = {}): ActionStarter {
    const { tokenProfile } = options;
    if (tokenProfile !== undefined)
      requireProfileToken(this.config, tokenProfile, runTokenPurpose(tokenProfile));
    return ActionStarter.fromConfig(this.redis, this.config, this.client({ tokenProfile }), this.logger, {
      tokenProfile,
    });
  }

  /** The `chains` queue: submit, look up, list and cancel chains (created on first use). */
  chains(): ChainQueue {
    this.chainQueue ??= new ChainQueue(this.redis, {
      prefix: this.config.prefix,
      retentionMs: this.config.watch.retentionMs,
      eventsMaxLength: this.config.events.maxLength,
    });
    return this.chainQueue;
  }

  /** Runs chain steps in this process (the `worker` command does, beside the watch worker). */
  async startChainWorker(
    options: { concurrency?: number; sinks?: ChainOutcomeSink[] } = {},
  ): Promise<ChainWorker> {
    const client = this.client();
    const chains = this.chains();
    const processor = new ChainProcessor({
      store: chains.store,
      outcomes: chains.outcomes,
      watches: this.watches,
      starter: ActionStarter.fromConfig(this.redis, this.config, client, this.logger),
      client,
      logger: this.logger,
      schedule: this.config.schedule,
      defaultTimeoutMs: this.config.watch.defaultTimeoutMs,
      sinks: [this.chainWebhookSink(), ...(options.sinks ?? [])],
    });
    processor.on('token-rejected', (error) =>
      this.tokenRejected({ variable: 'DIGITALOCEAN_TOKEN', status: error.status }),
    );
    const connection = createRedis(this.config.redis, {
      forWorker: true,
      connectionName: `${this.config.prefix}:chains`,
    });
    this.workerConnections.push(connection);
    const worker = new ChainWorker({
      connection,
      prefix: this.config.prefix,
      processor,
      logger: this.logger,
      concurrency: options.concurrency ?? Math.min(20, this.config.worker.concurrency),
      lockDurationMs: this.config.worker.lockDurationMs,
    });
    await worker.start();
    this.chainWorkers.push(worker);
    return worker;
  }

  /**
   * Ends open waits (FeedClosedError) and live subscriptions, stops workers gracefully (in-flight
   * polls finish), then closes every connection.
   */
  async close(): Promise<void> {
    await this.eventFeed?.close();
    await this.fleet?.close();
    await Promise.all(this.chainWorkers.map((worker) => worker.close()));
    await Promise.all(this.workers.map((worker) => worker.close()));
    if (this.deliveryWorker !== undefined) {
      // First attempts of what this process queued, so a short-lived `wait --with-worker` sends them.
      await this.deliveryWorker.settle(this.config.webhooks.timeoutMs + 1_000);
      await this.deliveryWorker.close();
    }
    await this.deliveryQueue?.close();
    await this.chainQueue?.close();
    await this.watches.close();
    for (const connection of [...this.workerConnections, this.redis]) {
      await connection.quit().catch(() => connection.disconnect());
    }
  }
}
