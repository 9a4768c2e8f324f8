import { EventEmitter } from 'node:events';
import type { Chain, ChainOutcomeRecord } from '../chains/chain.js';
import { parseChainId } from '../chains/chain-keys.js';
import { type ChainPlanInput, parseChainPlan } from '../chains/chain-plan.js';
import type { ChainStateFilter } from '../chains/chain-queue.js';
import { type Config, loadConfig } from '../config/config.js';
import type { Action, ResourceId, WatchKind } from '../digitalocean/models.js';
import { InputError } from '../errors/input-error.js';
import { WaitTimeoutError } from '../errors/wait-timeout-error.js';
import { createLogger, type Logger } from '../logging/logger.js';
import type { FeedSubscription } from '../notifications/event-feed.js';
import type { StreamEvent } from '../notifications/event-stream.js';
import { assertTargetAllowed } from '../notifications/webhooks/address-guard.js';
import { deliverableTarget, validateTargetUrl } from '../notifications/webhooks/target-url.js';
import { resolveAction, watchUnfinishedActions } from '../runs/discover.js';
import { type DropletCreateInput, parseDropletCreate } from '../runs/droplet-create.js';
import { parseRunKey, parseRunRequest, type RunRequest } from '../runs/run-request.js';
import { Runtime } from '../runtime.js';
import { assertRedisReachable } from '../support/redis.js';
import { isOutcome, type OutcomeRecord, type Watch, type WatchWebhook } from '../watches/watch.js';
import {
  type ActionRef,
  parseActionRef,
  parseDeletionRef,
  parseListedResource,
  parseWatchId,
} from '../watches/watch-ref.js';
import {
  normaliseWatch,
  normaliseWatchSettings,
  parseTimeoutOrMs,
  type WatchInputOptions,
  type WatchSettings,
  type WatchSettingsInput,
} from '../watches/watch-request.js';

/** How to build an ActionWatcher. With neither `env` nor `config`, the process environment is read. */
export interface ActionWatcherOptions {
  /** Environment variables as the CLI reads them (REDIS_URL, DIGITALOCEAN_TOKEN, …). */
  env?: Record<string, string | undefined>;
  /** A configuration already loaded with `loadConfig`; wins over `env`. */
  config?: Config;
  /** A pino logger; default JSON lines on stderr at LOG_LEVEL. */
  logger?: Logger;
  /**
   * Also poll actions and run chains in this process, for scripts with no `actionwatch worker`
   * running elsewhere. Default false.
   */
  worker?: boolean | { concurrency?: number };
}

/** A duration in ms, or as text: `90s`, `30m`, `6h`. */
export type Duration = number | string;

export interface WatchOptions {
  /** The watch ends as `timed_out` after this long; default WATCH_TIMEOUT (6h). */
  timeout?: Duration;
  /** Also POST this watch's outcome to these URLs (optionally only for some outcomes). */
  webhooks?: Array<string | WatchWebhook>;
  /**
   * Observe with the token of this profile (`DIGITALOCEAN_TOKEN_<NAME>`, any case; `default` is
   * DIGITALOCEAN_TOKEN): the watch goes to the profile's queue, its id starts with `<name>.`, and
   * a worker with that token polls it under the profile's own rate budget. For `run`, the action
   * is also started with that token (which this process then needs), under the profile's own
   * idempotency key space.
   */
  tokenProfile?: string;
}

export interface WaitForOptions {
  /** Reject with WaitTimeoutError after this long (the watch itself goes on). Default: no limit. */
  timeout?: Duration;
  /** Reject with the signal's reason when it aborts. */
  signal?: AbortSignal;
}

export interface RunOptions extends WatchOptions {
  /**
   * Idempotency key (letters, digits, `_ . -`): every `run` with the same key yields the same action,
   * started once, even when called concurrently from several processes.
   */
  key?: string;
  /**
   * When the resource is busy (DigitalOcean's 422 "pending event"), retry with backoff for this
   * long instead of failing; `true` is 15 minutes.
   */
  retryPending?: boolean | Duration;
  signal?: AbortSignal;
}

export interface RunResult {
  /** The action as DigitalOcean returned it when it was started. */
  action: Action;
  /** Its watch, already enqueued; pass it (or its id) to `waitFor`. */
  watch: Watch;
  /** False when the key had already started this action (a retried run). */
  started: boolean;
  /** True when the action was found on DigitalOcean after a start whose answer was lost. */
  recovered: boolean;
}

export interface CreateDropletsOptions extends WatchOptions {
  /**
   * Idempotency key: every create with the same key makes the droplets once, even when called
   * concurrently from several processes. Default: a fresh random key (returned in the result).
   */
  key?: string;
  signal?: AbortSignal;
}

/** One created droplet and the watch of its create action. */
export interface CreatedDroplet {
  dropletId: number;
  name: string;
  actionId: number;
  watch: Watch;
}

export interface CreateDropletsResult {
  /** One entry per name, in the order given. */
  droplets: CreatedDroplet[];
  /** The idempotency key used: give it again to get the same droplets back. */
  key: string;
  /** The tag every droplet of this create carries (`actionwatch:<hash of the key>`). */
  tag: string;
  /** False when the key had already created them (a retried create). */
  started: boolean;
  /** True when they were found on DigitalOcean (by the tag) after a create whose answer was lost. */
  recovered: boolean;
}

export interface DeleteDropletOptions extends WatchOptions {
  /**
   * Idempotency key: every delete with the same key sends DELETE /v2/droplets/{id} once, even
   * when called concurrently from several processes.
   */
  key?: string;
  signal?: AbortSignal;
}

export interface DeleteDropletResult {
  /**
   * Its deletion watch (`droplet-<id>-deleted`, `actionId: null`, `awaits: 'deletion'`), already
   * enqueued: it ends `completed` once GET /v2/droplets/{id} answers 404.
   */
  watch: Watch;
  /** True when DigitalOcean answered 404: the droplet was already gone (the watch still ends completed). */
  alreadyGone: boolean;
  /** False when the key had already sent this DELETE (a retried delete). */
  started: boolean;
  /** True when the DELETE's answer was lost (it may have landed): the watch tells. */
  recovered: boolean;
}

/** Events fed from the events stream, across every process sharing the Redis prefix. */
export interface ActionWatcherEvents {
  /** Every action outcome. */
  outcome: [OutcomeRecord];
  completed: [OutcomeRecord];
  errored: [OutcomeRecord];
  not_found: [OutcomeRecord];
  timed_out: [OutcomeRecord];
  cancelled: [OutcomeRecord];
  /** Every chain outcome. */
  chain: [ChainOutcomeRecord];
  'chain.completed': [ChainOutcomeRecord];
  'chain.failed': [ChainOutcomeRecord];
  'chain.cancelled': [ChainOutcomeRecord];
  /** The events stream could not be read (it is retried). */
  error: [Error];
}

const FEED_EVENTS = new Set<string>([
  'outcome',
  'completed',
  'errored',
  'not_found',
  'timed_out',
  'cancelled',
  'chain',
  'chain.completed',
  'chain.failed',
  'chain.cancelled',
]);

export const DEFAULT_RETRY_PENDING_MS = 15 * 60_000;

/**
 * Start DigitalOcean actions, watch them, run chains of them and wait for their outcomes, from
 * any Node.js program. Everything durable lives in Redis, so a watch or chain started here goes on
 * if this process exits, and any process (a worker, the CLI) sees the same outcomes.
 *
 * @example
 * ```ts
 * const aw = await ActionWatcher.create({ worker: true });
 * const { watch } = await aw.run({ kind: 'image', resourceId: 7, type: 'transfer', region: 'ams3' });
 * const outcome = await aw.waitFor(watch, { timeout: '30m' }); // outcome.outcome === 'completed'
 * await aw.close();
 * ```
 */
export class ActionWatcher extends EventEmitter<ActionWatcherEvents> {
  private feedStarting: Promise<FeedSubscription> | undefined;

  private constructor(
    /** The composition root underneath: queues, Redis connections, the DigitalOcean client. */
    readonly runtime: Runtime,
    private readonly ownsRuntime: boolean,
  ) {
    super();
    // Every emitter emits newListener; the typed event map just does not list it.
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (typeof event === 'string' && FEED_EVENTS.has(event))
        this.ready().catch((error: Error) => this.reportError(error));
    });
  }

  /**
   * Loads the configuration, checks that Redis answers, and (with `worker`) starts polling in this
   * process. Throws ConfigError for bad settings, and RedisConnectionError (one line naming the
   * cause: DNS, refused, credentials, a missing database) when Redis cannot be used.
   */
  static async create(options: ActionWatcherOptions = {}): Promise<ActionWatcher> {
    const config = options.config ?? loadConfig(options.env ?? process.env);
    const logger = options.logger ?? createLogger({ level: config.logLevel });
    const { warnings } = await assertRedisReachable(config.redis);
    for (const warning of warnings) logger.warn(warning);
    const watcher = new ActionWatcher(new Runtime(config, logger), true);
    if (options.worker) {
      try {
        await watcher.startWorker(options.worker === true ? {} : options.worker);
      } catch (error) {
        await watcher.close();
        throw error;
      }
    }
    return watcher;
  }

  /** Wraps a Runtime someone else owns (the CLI); `close()` then leaves it open. */
  static fromRuntime(runtime: Runtime): ActionWatcher {
    return new ActionWatcher(runtime, false);
  }

  /**
   * Resolves once outcome events are being followed: listeners added before it resolves get every
   * outcome recorded after that. Adding a listener starts the feed by itself; await this when the
   * next thing you do may finish quickly.
   */
  async ready(): Promise<void> {
    // One subscriber on the process's event feed, shared with every wait of this Runtime.
    this.feedStarting ??= this.runtime.events
      .subscribe({
        onEvents: (events) => {
          for (const event of events) this.dispatch(event);
          return true;
        },
        onError: (error) => this.reportError(error),
      })
      .catch((error: unknown) => {
        // Not started: the next listener (or ready()) tries again.
        this.feedStarting = undefined;
        throw error;
      });
    await this.feedStarting;
  }

  /**
   * Starts watching an action, or joins its existing watch (the watch id derives from the action).
   * A watch that ended `timed_out` or `cancelled` is started afresh.
   */
  async watch(ref: ActionRef, options: WatchOptions = {}): Promise<Watch> {
    const request = await normaliseWatch(
      { kind: ref.kind, resourceId: ref.resourceId, actionId: ref.actionId, ...settingsInput(options) },
      this.inputOptions(),
    );
    const { watch } = await this.runtime.watches.watch(request);
    return watch;
  }

  /**
   * Watches any action by its id alone: looks it up once (GET /v2/actions/{id}) and watches it as
   * the kind its `resource_type` names (see refOfAction), or as kind `action` when its resource
   * cannot be named from the answer.
   */
  async watchAction(actionId: number, options: WatchOptions = {}): Promise<Watch> {
    const { actionId: validId } = parseActionRef('action', undefined, actionId);
    const settings = await this.watchOptions(options);
    const client = this.runtime.client({ tokenProfile: settings.tokenProfile });
    return this.watch(await resolveAction(client, validId), options);
  }

  /**
   * The outcome of a watch, as soon as it is recorded. Given an action (`ActionRef`), watches it
   * first when nobody does; given a watch or watch id, waits on that watch.
   *
   * @throws WaitTimeoutError when `timeout` passes first (the watch goes on).
   * @throws the signal's reason (an `AbortError` DOMException unless you gave one) on abort.
   */
  async waitFor(ref: ActionRef | Watch | string, options: WaitForOptions = {}): Promise<OutcomeRecord> {
    options.signal?.throwIfAborted();
    const timeoutMs = parseTimeoutOrMs(options.timeout, 'timeout');
    let watch: Watch | undefined;
    if (typeof ref === 'string') {
      if (parseWatchId(ref) === undefined)
        throw new InputError(
          `watch id must look like [<tokenProfile>.]<kind>-<resourceId>-<actionId>, [<tokenProfile>.]action-<actionId> or [<tokenProfile>.]droplet-<dropletId>-deleted (got ${JSON.stringify(ref)})`,
        );
      watch = await this.runtime.watches.get(ref);
      if (watch === undefined) throw new InputError(`no watch with id ${ref}`);
    } else if ('state' in ref) {
      watch = ref;
    } else {
      watch = await this.watch(ref);
    }
    const watchId = watch.id;
    const record = await this.runtime.waitForOutcome(watchId, {
      // The events of this very watch answer without a read of the stored outcome.
      enqueuedAt: watch.enqueuedAt,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (record === undefined) throw new WaitTimeoutError(watchId, timeoutMs ?? 0);
    return record;
  }

  /**
   * Starts an action (POST /v2/{images,droplets,volumes,reserved_ips,floating_ips,reserved_ipv6}/{id}/actions)
   * and watches it: `{ kind: 'volume', resourceId: '<uuid>', type: 'attach', params: { droplet_id: 42 } }`,
   * `{ kind: 'reserved_ip', resourceId: '203.0.113.7', type: 'assign', params: { droplet_id: 42 } }`.
   *
   * @throws InputError for a request DigitalOcean would refuse as malformed, or a key reused for a
   *   different request.
   * @throws ActionRejectedError when DigitalOcean refuses it (422); `pending` when the resource was
   *   busy (and stayed busy past `retryPending`).
   * @throws ActionProbablyStartedError when DigitalOcean probably started it (a 2xx that does not
   *   say which action, or a lost answer) but no matching action can be found; it is never sent
   *   again (with the same `key`, later calls only look for it again).
   * @throws ConfigError naming the variable when the token it needs (DIGITALOCEAN_TOKEN, or
   *   `DIGITALOCEAN_TOKEN_<NAME>` with `tokenProfile`) is not set; nothing is sent then.
   */
  async run(request: RunRequest, options: RunOptions = {}): Promise<RunResult> {
    const spec = parseRunRequest(request, 'run');
    const key = parseRunKey(options.key, 'key');
    const retryPendingMs =
      options.retryPending === true
        ? DEFAULT_RETRY_PENDING_MS
        : options.retryPending === false || options.retryPending === undefined
          ? undefined
          : parseTimeoutOrMs(options.retryPending, 'retryPending');
    const watchOptions = await this.watchOptions(options);
    // Builds the profile's client first: a missing token is a ConfigError before anything is sent.
    const starter = this.runtime.actionStarter({ tokenProfile: watchOptions.tokenProfile });
    const started = await starter.start(spec, {
      ...(key === undefined ? {} : { key }),
      ...(retryPendingMs === undefined ? {} : { retryPending: { forMs: retryPendingMs } }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const { watch } = await this.runtime.watches.watch({ ...started.ref, ...watchOptions });
    return { action: started.action, watch, started: started.started, recovered: started.recovered };
  }

  /**
   * Creates droplets (POST /v2/droplets: one name, or up to ten in one multi-create) and watches
   * each one's create action (kind droplet, resource the new droplet). The same idempotency rules
   * as `run`: with a `key`, the droplets are created once; a lost answer is recovered by the tag
   * every droplet of the create carries, never by a second POST.
   *
   * @throws InputError naming the field for a request DigitalOcean would refuse as malformed, or
   *   a key reused for a different request.
   * @throws ActionRejectedError when DigitalOcean refuses it (422).
   * @throws ActionProbablyStartedError when the droplets were probably created but cannot be
   *   found by their tag; it is never sent again.
   */
  async createDroplets(
    input: DropletCreateInput,
    options: CreateDropletsOptions = {},
  ): Promise<CreateDropletsResult> {
    const spec = parseDropletCreate(input, 'create');
    const key = parseRunKey(options.key, 'key');
    const watchOptions = await this.watchOptions(options);
    const starter = this.runtime.actionStarter({ tokenProfile: watchOptions.tokenProfile });
    const created = await starter.create(spec, {
      ...(key === undefined ? {} : { key }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const watched = await this.runtime.watches.watchMany(
      created.droplets.map(({ dropletId, actionId }) => ({
        kind: 'droplet' as const,
        resourceId: dropletId,
        actionId,
        ...watchOptions,
      })),
    );
    return {
      droplets: created.droplets.map((droplet, i) => ({
        ...droplet,
        watch: (watched[i] as { watch: Watch }).watch,
      })),
      key: created.key,
      tag: created.tag,
      started: created.started,
      recovered: created.recovered,
    };
  }

  /**
   * Deletes a droplet (DELETE /v2/droplets/{id}) and watches until it is gone: a delete starts no
   * action, so its watch (`droplet-<id>-deleted`) ends `completed` once GET /v2/droplets/{id}
   * answers 404, and like any watch `timed_out` at its deadline. A droplet already gone (404) is
   * not an error: its watch ends completed at its first look. The same idempotency rules as
   * `run`: with a `key`, the DELETE is sent once; a lost answer is never sent again.
   *
   * @throws InputError for an id that is not a positive whole number, or a key reused for a
   *   different request.
   * @throws ActionRejectedError when DigitalOcean refuses it (a 4xx other than 404).
   */
  async deleteDroplet(dropletId: number, options: DeleteDropletOptions = {}): Promise<DeleteDropletResult> {
    const ref = parseDeletionRef(dropletId);
    const key = parseRunKey(options.key, 'key');
    const watchOptions = await this.watchOptions(options);
    const starter = this.runtime.actionStarter({ tokenProfile: watchOptions.tokenProfile });
    const deleted = await starter.deleteDroplet(ref.resourceId, {
      ...(key === undefined ? {} : { key }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const { watch } = await this.runtime.watches.watch({ ...deleted.ref, ...watchOptions });
    return {
      watch,
      alreadyGone: deleted.alreadyGone,
      started: deleted.started,
      recovered: deleted.recovered,
    };
  }

  /**
   * Submits a chain: steps run in order, each once the one before it `completed` (see the README
   * for the plan format). With a `key`, submitting again joins the same chain instead of running
   * it twice. A worker (here with `worker: true`, or `actionwatch worker`) runs it.
   *
   * @throws InputError naming the first problem in the plan; nothing is submitted then.
   */
  async chain(plan: ChainPlanInput, options: { key?: string } = {}): Promise<Chain> {
    const parsed = parseChainPlan(plan, validateTargetUrl);
    const key = parseRunKey(options.key, 'key');
    await this.assertTargetsAllowed(parsed.webhooks ?? []);
    const { chain } = await this.runtime.chains().submit(parsed, key === undefined ? {} : { key });
    return chain;
  }

  /**
   * A chain's outcome, as soon as it is recorded.
   *
   * @throws WaitTimeoutError when `timeout` passes first (the chain goes on).
   * @throws the signal's reason on abort.
   */
  async waitForChain(chain: Chain | string, options: WaitForOptions = {}): Promise<ChainOutcomeRecord> {
    options.signal?.throwIfAborted();
    const chainId = parseChainId(typeof chain === 'string' ? chain : chain.id);
    const timeoutMs = parseTimeoutOrMs(options.timeout, 'timeout');
    if ((await this.runtime.chains().store.get(chainId)) === undefined)
      throw new InputError(`no chain with id ${chainId}`);
    const record = await this.runtime.waitForChainOutcome(chainId, {
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (record === undefined) throw new WaitTimeoutError(chainId, timeoutMs ?? 0);
    return record;
  }

  async getChain(chainId: string): Promise<Chain | undefined> {
    return this.runtime.chains().get(parseChainId(chainId));
  }

  /** Every chain still kept (WATCH_RETENTION after it ended), newest first. */
  listChains(state: ChainStateFilter = 'all'): AsyncGenerator<Chain> {
    return this.runtime.chains().list(state);
  }

  /** Stops a running chain before its next step; undefined when there is no such chain. */
  async cancelChain(chainId: string): Promise<Chain | undefined> {
    return this.runtime.chains().cancel(parseChainId(chainId));
  }

  /**
   * Every action of a droplet, image, volume or reserved/floating IP, newest listing page after
   * page, each once (DigitalOcean lists no actions of a reserved IPv6 address or NFS share).
   */
  actions(kind: WatchKind, resourceId: ResourceId): AsyncGenerator<Action> {
    const [validKind, validId] = parseListedResource(kind, resourceId);
    return this.runtime.client().iterateResourceActions(validKind, validId);
  }

  /** Lists every action of the resource (all pages) and watches each one not yet ended. */
  async watchInProgress(
    kind: WatchKind,
    resourceId: ResourceId,
    options: WatchOptions & { perPage?: number } = {},
  ): Promise<Watch[]> {
    const [validKind, validId] = parseListedResource(kind, resourceId);
    const watchOptions = await this.watchOptions(options);
    const results = await watchUnfinishedActions(
      this.runtime.client({ tokenProfile: watchOptions.tokenProfile }),
      this.runtime.watches,
      validKind,
      validId,
      { ...watchOptions, ...(options.perPage === undefined ? {} : { perPage: options.perPage }) },
    );
    return results.map((result) => result.watch);
  }

  /** Polls watched actions and runs chains in this process until `close()`. */
  async startWorker(options: { concurrency?: number } = {}): Promise<void> {
    await this.runtime.startWorker(options);
    await this.runtime.startChainWorker(
      options.concurrency === undefined ? {} : { concurrency: options.concurrency },
    );
  }

  /** Stops following events, stops this process's workers, and closes every connection it opened. */
  async close(): Promise<void> {
    const subscription = await this.feedStarting?.catch(() => undefined);
    subscription?.close();
    if (this.ownsRuntime) await this.runtime.close();
  }

  private dispatch(event: StreamEvent): void {
    if (event.subject === 'watch') {
      const record = event.record;
      this.emit('outcome', record);
      if (isOutcome(record.outcome)) this.emit(record.outcome, record);
      return;
    }
    this.emit('chain', event.record);
    this.emit(event.type, event.record);
  }

  private reportError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.runtime.logger.warn({ err: error.message }, 'reading the events stream failed; retrying');
  }

  private watchOptions(options: WatchOptions): Promise<WatchSettings> {
    return normaliseWatchSettings(settingsInput(options), this.inputOptions());
  }

  private inputOptions(): WatchInputOptions {
    return { checkTarget: deliverableTarget(this.runtime.config.webhooks.allowPrivate) };
  }

  private async assertTargetsAllowed(webhooks: WatchWebhook[]): Promise<void> {
    const allowPrivate = this.runtime.config.webhooks.allowPrivate;
    for (const url of new Set(webhooks.map((webhook) => webhook.url)))
      await assertTargetAllowed(url, { allowPrivate });
  }
}

function settingsInput(options: WatchOptions): WatchSettingsInput {
  return {
    timeout: options.timeout,
    webhooks: (options.webhooks ?? []).map((entry) => (typeof entry === 'string' ? { url: entry } : entry)),
    tokenProfile: options.tokenProfile,
  };
}
