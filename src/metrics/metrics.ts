import { UnrecoverableError, type Worker } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DigitalOceanResponseInfo } from '../digitalocean/client.js';
import type { SweepReport } from '../fleet/sweeper.js';
import type { OutcomeRecord } from '../watches/watch.js';
import type { WatchProcessor } from '../watches/watch-processor.js';
import type { WatchWorker } from '../watches/watch-worker.js';

/** Anything that can say how many jobs it holds per BullMQ state (a WatchQueue, a BullMQ Queue). */
export interface JobCountSource {
  counts(): Promise<Record<string, number>>;
}

/** Anything that reports batched observation's planning rounds (a Fleet). */
export interface SweepRoundSource {
  on(event: 'round', listener: (report: SweepReport) => void): unknown;
}

/** Anything that reports on a process's event feed (an EventFeed). */
export interface EventFeedSource {
  stats(): { waiters: number; streams: number; dispatched: number; dropped: number };
  lagSeconds(): Promise<number>;
}

export interface MetricsOptions {
  /** Also export Node.js process metrics (CPU, memory, event loop). Off in tests that make many. */
  processMetrics?: boolean;
}

/** BullMQ states in which a watch has its outcome; every other state means it is still waiting. */
const DONE_STATES = new Set(['completed', 'failed']);

/** Seconds from DigitalOcean's completed_at to our recorded outcome: polls are 2 s to 60 s apart. */
const LATENCY_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

/**
 * Every Prometheus series actionwatch exports, on a registry of its own (never prom-client's
 * global one, so that several can live in one process). Counters move on events from the worker
 * and the DigitalOcean client; queue gauges are read from Redis when scraped.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly polls: Counter<'result'>;
  private readonly responses: Counter<'status'>;
  private readonly answerMismatches: Counter<'fault'>;
  private readonly rateLimitRemaining: Gauge;
  private readonly pausedSeconds: Counter;
  private readonly outcomes: Counter<'outcome'>;
  private readonly detectionLatency: Histogram<'outcome'>;
  private readonly webhookDeliveries: Counter<'result'>;
  private readonly watches: Gauge<'state'>;
  private readonly queueJobs: Gauge<'queue' | 'state'>;
  private readonly sweepRounds: Counter<'profile' | 'budget'>;
  private readonly sweptWatches: Counter<'profile' | 'via'>;
  private readonly listRequests: Counter<'profile' | 'list'>;
  private readonly sweepPromoted: Counter<'profile'>;
  private readonly listFailures: Counter<'profile'>;
  private readonly heldWatches: Gauge<'profile'>;
  private readonly feedWaiters: Gauge;
  private readonly feedStreams: Gauge;
  private readonly feedEvents: Counter;
  private readonly feedDropped: Counter;
  private readonly feedLag: Gauge;
  private eventFeed: EventFeedSource | undefined;
  /** The feed's totals at the previous scrape: its counters move by the difference. */
  private feedCounted = { dispatched: 0, dropped: 0 };
  private readonly detectionBound: Gauge<'profile'>;
  private readonly sweepRate: Gauge<'profile' | 'pace'>;
  private readonly queues = new Map<string, JobCountSource>();
  private readonly deliveryWorkers = new WeakSet<Worker>();
  private readonly sweepSources = new WeakSet<SweepRoundSource>();
  private watchQueue: string | undefined;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.polls = new Counter({
      name: 'actionwatch_polls_total',
      help: 'Polls of DigitalOcean actions, by what the poll found.',
      labelNames: ['result'],
      registers,
    });
    this.responses = new Counter({
      name: 'actionwatch_digitalocean_responses_total',
      help: 'HTTP responses from the DigitalOcean API, by status code.',
      labelNames: ['status'],
      registers,
    });
    this.answerMismatches = new Counter({
      name: 'actionwatch_digitalocean_answer_mismatches_total',
      help: 'Polls whose answer was about another action (other_action) or resource (other_resource), or held a malformed action (invalid); never taken as the watched action.',
      labelNames: ['fault'],
      registers,
    });
    this.rateLimitRemaining = new Gauge({
      name: 'actionwatch_digitalocean_ratelimit_remaining',
      help: 'The ratelimit-remaining header of the latest DigitalOcean response.',
      registers,
    });
    this.pausedSeconds = new Counter({
      name: 'actionwatch_rate_limit_paused_seconds_total',
      help: 'Time every worker was told to pause polling because of a rate limit.',
      registers,
    });
    this.outcomes = new Counter({
      name: 'actionwatch_outcomes_total',
      help: 'Watches ended, by outcome (counted by the process that recorded the outcome).',
      labelNames: ['outcome'],
      registers,
    });
    this.detectionLatency = new Histogram({
      name: 'actionwatch_detection_latency_seconds',
      help: "Time from the action's completed_at to the outcome being recorded.",
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'actionwatch_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by result.',
      labelNames: ['result'],
      registers,
    });
    this.watches = new Gauge({
      name: 'actionwatch_watches',
      help: 'Watches in Redis, by state (waiting or done).',
      labelNames: ['state'],
      registers,
      collect: () => this.collectWatches(),
    });
    this.queueJobs = new Gauge({
      name: 'actionwatch_queue_jobs',
      help: 'Jobs in each queue, by BullMQ state.',
      labelNames: ['queue', 'state'],
      registers,
      collect: () => this.collectQueues(),
    });
    this.sweepRounds = new Counter({
      name: 'actionwatch_fleet_rounds_total',
      help: 'Planning rounds of batched observation, by whether the request budget covered every due watch (enough) or not (short).',
      labelNames: ['profile', 'budget'],
      registers,
    });
    this.sweptWatches = new Counter({
      name: 'actionwatch_fleet_due_watches_total',
      help: 'Due watches in planning rounds, by how each was dealt with: seen on an account listing page, on a resource list, left to its own GET, or held because the budget was short.',
      labelNames: ['profile', 'via'],
      registers,
    });
    this.listRequests = new Counter({
      name: 'actionwatch_fleet_list_requests_total',
      help: 'List requests made by batched observation: account listing pages and resource action lists.',
      labelNames: ['profile', 'list'],
      registers,
    });
    this.sweepPromoted = new Counter({
      name: 'actionwatch_fleet_promoted_total',
      help: 'Waiting watches woken at once because a list showed their action ended (or they must GET).',
      labelNames: ['profile'],
      registers,
    });
    this.listFailures = new Counter({
      name: 'actionwatch_fleet_list_failures_total',
      help: 'Planning rounds whose list requests failed; their watches fell back to their own GETs.',
      labelNames: ['profile'],
      registers,
    });
    this.heldWatches = new Gauge({
      name: 'actionwatch_fleet_held_watches',
      help: 'Due watches the latest planning round held back for lack of budget (0 when it covered all).',
      labelNames: ['profile'],
      registers,
    });
    this.feedWaiters = new Gauge({
      name: 'actionwatch_event_feed_waiters',
      help: "Waits open on this process's event feed (long-polls, waitFor, waitForChain, CLI wait).",
      registers,
      collect: () => this.collectEventFeed(),
    });
    this.feedStreams = new Gauge({
      name: 'actionwatch_event_feed_streams',
      help: "Live streams open on this process's event feed (SSE clients, library listeners).",
      registers,
      collect: () => this.collectEventFeed(),
    });
    this.feedEvents = new Counter({
      name: 'actionwatch_event_feed_events_total',
      help: "Events stream entries this process's feed read and dispatched (each once, whoever waits).",
      registers,
      collect: () => this.collectEventFeed(),
    });
    this.feedDropped = new Counter({
      name: 'actionwatch_event_feed_streams_dropped_total',
      help: 'Live streams dropped because their reader fell too far behind (they resume from Last-Event-ID).',
      registers,
      collect: () => this.collectEventFeed(),
    });
    this.feedLag = new Gauge({
      name: 'actionwatch_event_feed_lag_seconds',
      help: "How far the feed's last read entry is behind the newest entry of the events stream.",
      registers,
      collect: () => this.collectEventFeedLag(),
    });
    this.detectionBound = new Gauge({
      name: 'actionwatch_fleet_detection_bound_seconds',
      help: 'The best detection the request budget allows now: one read of every listing page holding watched actions in progress (plus their own GETs) at the allowed rate. Compare with actionwatch_detection_latency_seconds.',
      labelNames: ['profile'],
      registers,
    });
    this.sweepRate = new Gauge({
      name: 'actionwatch_fleet_requests_per_minute_allowed',
      help: 'Requests a minute the latest planning round could spend, by pace: burst (the minute limit, the projected hour stays within its limit) or hourly (paced so the hour lasts).',
      labelNames: ['profile', 'pace'],
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for a scrape. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Counts this processor's polls and the outcomes it records. */
  observeProcessor(processor: WatchProcessor): void {
    processor.on('poll', ({ result }) => this.polls.inc({ result }));
    processor.on('mismatch', ({ fault }) => this.answerMismatches.inc({ fault }));
    processor.on('outcome', ({ record, created }) => {
      if (created) this.outcomeRecorded(record);
    });
  }

  observeWorker(worker: WatchWorker): void {
    worker.on('paused', ({ waitMs }) => this.pausedSeconds.inc(waitMs / 1000));
  }

  /** Counts batched observation's planning rounds in this process, once however often asked. */
  observeFleet(source: SweepRoundSource): void {
    if (this.sweepSources.has(source)) return;
    this.sweepSources.add(source);
    source.on('round', (report) => this.sweepRound(report));
  }

  private sweepRound(report: SweepReport): void {
    const profile = report.profile;
    this.sweepRounds.inc({ profile, budget: report.short ? 'short' : 'enough' });
    const dealt: Array<[string, number]> = [
      ['account_list', report.viaAccountList],
      ['resource_list', report.viaResourceList],
      ['own_get', report.direct],
      ['held', report.held],
    ];
    for (const [via, count] of dealt) if (count > 0) this.sweptWatches.inc({ profile, via }, count);
    if (report.pagesRead > 0) this.listRequests.inc({ profile, list: 'account' }, report.pagesRead);
    if (report.resourceListsRead > 0) {
      this.listRequests.inc({ profile, list: 'resource' }, report.resourceListsRead);
    }
    if (report.promoted > 0) this.sweepPromoted.inc({ profile }, report.promoted);
    if (report.listFailure !== undefined) this.listFailures.inc({ profile });
    this.heldWatches.set({ profile }, report.held);
    if (Number.isFinite(report.boundMs)) this.detectionBound.set({ profile }, report.boundMs / 1000);
    this.sweepRate.remove({ profile, pace: report.pace === 'burst' ? 'hourly' : 'burst' });
    this.sweepRate.set({ profile, pace: report.pace }, report.perMinute);
  }

  /** Reports this process's event feed on every scrape. */
  observeEventFeed(source: EventFeedSource): void {
    this.eventFeed = source;
  }

  private collectEventFeed(): void {
    if (this.eventFeed === undefined) return;
    const stats = this.eventFeed.stats();
    this.feedWaiters.set(stats.waiters);
    this.feedStreams.set(stats.streams);
    this.feedEvents.inc(Math.max(0, stats.dispatched - this.feedCounted.dispatched));
    this.feedDropped.inc(Math.max(0, stats.dropped - this.feedCounted.dropped));
    this.feedCounted = { dispatched: stats.dispatched, dropped: stats.dropped };
  }

  private async collectEventFeedLag(): Promise<void> {
    if (this.eventFeed === undefined) return;
    // An unreachable Redis leaves the last reading rather than failing the scrape.
    const lag = await this.eventFeed.lagSeconds().catch(() => undefined);
    if (lag !== undefined) this.feedLag.set(lag);
  }

  /** Pass as the DigitalOcean client's `onResponse`. */
  readonly digitalOceanResponse = (info: DigitalOceanResponseInfo): void => {
    this.responses.inc({ status: String(info.status) });
    if (info.rateLimit.remaining !== undefined) this.rateLimitRemaining.set(info.rateLimit.remaining);
  };

  /** Call once per outcome, by whoever recorded it (a worker, or the API for a cancel). */
  outcomeRecorded(record: OutcomeRecord): void {
    this.outcomes.inc({ outcome: record.outcome });
    const completedAt = record.action?.completed_at;
    if (completedAt === null || completedAt === undefined) return;
    const latencyMs = Date.parse(record.watch.finishedAt) - Date.parse(completedAt);
    if (Number.isFinite(latencyMs) && latencyMs >= 0) {
      this.detectionLatency.observe({ outcome: record.outcome }, latencyMs / 1000);
    }
  }

  /** One webhook delivery attempt ended: `delivered`, `retrying` or `failed` (given up). */
  webhookDelivery(result: 'delivered' | 'retrying' | 'failed'): void {
    this.webhookDeliveries.inc({ result });
  }

  /** Counts every attempt of a webhook delivery worker (its BullMQ Worker), once however often asked. */
  observeDeliveries(worker: Worker): void {
    if (this.deliveryWorkers.has(worker)) return;
    this.deliveryWorkers.add(worker);
    worker.on('completed', () => this.webhookDelivery('delivered'));
    // The delivery worker gives up by throwing UnrecoverableError; any other failure is retried.
    worker.on('failed', (_job, error) =>
      this.webhookDelivery(error instanceof UnrecoverableError ? 'failed' : 'retrying'),
    );
  }

  /** Report this queue's depth on every scrape; `watches` also feeds `actionwatch_watches`. */
  trackQueue(name: string, source: JobCountSource, options: { isWatchQueue?: boolean } = {}): void {
    this.queues.set(name, source);
    if (options.isWatchQueue) this.watchQueue = name;
  }

  private async collectWatches(): Promise<void> {
    const gauge = this.watches;
    gauge.reset();
    const source = this.watchQueue === undefined ? undefined : this.queues.get(this.watchQueue);
    if (source === undefined) return;
    const counts = await source.counts().catch(() => undefined);
    if (counts === undefined) return;
    let waiting = 0;
    let done = 0;
    for (const [state, count] of Object.entries(counts)) {
      if (DONE_STATES.has(state)) done += count;
      else waiting += count;
    }
    gauge.set({ state: 'waiting' }, waiting);
    gauge.set({ state: 'done' }, done);
  }

  private async collectQueues(): Promise<void> {
    const gauge = this.queueJobs;
    gauge.reset();
    // An unreachable Redis drops the series rather than failing the scrape (or showing stale depths).
    await Promise.all(
      [...this.queues].map(async ([queue, source]) => {
        const counts = await source.counts().catch(() => undefined);
        for (const [state, count] of Object.entries(counts ?? {})) gauge.set({ queue, state }, count);
      }),
    );
  }
}
