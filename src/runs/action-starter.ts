import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Action, ResourceId } from '../digitalocean/models.js';
import { ActionProbablyStartedError } from '../errors/action-probably-started-error.js';
import { ActionRejectedError } from '../errors/action-rejected-error.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { CorruptRecordError } from '../errors/corrupt-record-error.js';
import {
  ClientError,
  ConnectionFailedError,
  DigitalOceanApiError,
  NotFoundError,
  TransientError,
  UnreadableStartError,
} from '../errors/digitalocean-api-error.js';
import { InputError } from '../errors/input-error.js';
import { RunKeyBusyError } from '../errors/run-key-busy-error.js';
import type { Logger } from '../logging/logger.js';
import type { Redis } from '../support/redis.js';
import { sleep } from '../support/sleep.js';
import { compactAction } from '../watches/watch.js';
import type { ActionRef, DeletionRef } from '../watches/watch-ref.js';
import { findCreatedDroplets } from './created-droplet-finder.js';
import { type CreateSpec, createTagOf, describeCreate } from './droplet-create.js';
import {
  type CreatedDropletEntry,
  type DoneRecord,
  isDoneRecord,
  RunKeys,
  type StartingRecord,
  type UnidentifiedRecord,
} from './run-keys.js';
import { describeRun, fingerprintOf, type RunSpec } from './run-request.js';
import { findStartedAction } from './started-action-finder.js';

export interface ActionStarterOptions {
  redis: Redis;
  prefix: string;
  client: DigitalOceanClient;
  logger: Logger;
  /** How long a key's record is kept. */
  retentionMs: number;
  /**
   * How long a claim holds without renewal. It must outlast one POST attempt (budget wait plus
   * request timeout): a claim that lapses while its owner still waits for an answer lets a second
   * caller look for the action before it exists.
   */
  claimTtlMs: number;
  /**
   * The token profile `client` uses (undefined: DIGITALOCEAN_TOKEN). Each profile has its own
   * idempotency key space (see RunKeys).
   */
  tokenProfile?: string | undefined;
  now?: () => number;
}

export interface StartResult {
  ref: ActionRef;
  /** The action as DigitalOcean returned it when it was started (or found). */
  action: Action;
  /**
   * True when this call started the action; false when its key had already started it (a retried
   * run) or it was found on DigitalOcean after an earlier start's answer was lost.
   */
  started: boolean;
  /** True when the action was found on DigitalOcean rather than returned by this call's POST. */
  recovered: boolean;
}

export interface PendingRetry {
  /** Give up (an ActionRejectedError) once the resource has been busy this long. */
  forMs: number;
  /** First wait between attempts; doubles up to `maxDelayMs`. Default 1 s. */
  initialDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
}

export interface StartOptions {
  /** Idempotency key: every start with the same key yields the same action. */
  key?: string;
  /** Retry a 422 "pending event" (the resource is busy) with backoff instead of failing. */
  retryPending?: PendingRetry;
  signal?: AbortSignal;
}

/** Our claim lapsed (we were slower than its TTL) and another caller took the key over. */
class ClaimLostError extends Error {
  constructor(key: string) {
    super(`lost the claim on key ${key} while starting its action`);
    this.name = 'ClaimLostError';
  }
}

/** Tries of one POST that never reached DigitalOcean (connection refused, DNS failure). */
const UNSENT_TRIES = 3;

/**
 * Looks for an action whose start was answered unreadably (or not at all), before giving up: a
 * new action can take a moment to show in its resource's list.
 */
const RECOVERY_LOOKS = 3;

type Found<T> = { found: T; recovered: boolean };
type Outcome<T> = Found<T> & { started: boolean };

/**
 * One kind of start, as the key protocol sees it: an action on a resource, or a droplet create.
 * The protocol (claim, POST once, look instead of sending again, record) is the same for both.
 */
interface Operation<T> {
  /** What the key is bound to: a key reused for another start is refused. */
  fingerprint: string;
  /** In words, for logs and errors: `transfer of image 7 to ams3`. */
  what: string;
  logContext: Record<string, unknown>;
  /** Sends the POST once (retries: 0); the client's errors as they come. */
  post(signal?: AbortSignal): Promise<T>;
  /** What a POST made since `sinceMs`, found on DigitalOcean; undefined when none shows. */
  find(sinceMs: number, signal?: AbortSignal): Promise<T | undefined>;
  idsOf(found: T): Record<string, unknown>;
  /** What the key keeps once started. */
  toRecord(found: T, recordedAt: string): DoneRecord;
  fromRecord(record: DoneRecord): T;
  /**
   * What a start whose answer was lost (or a takeover of one that was sent) counts as, for a start
   * whose result something else will tell (a deletion: its watch). Without it, such a start is
   * looked for with `find`, or ends in ActionProbablyStartedError.
   */
  unconfirmed?: T;
  probablyStarted(answered: boolean, why: string): ActionProbablyStartedError;
  /** A refusal by DigitalOcean (a 4xx) as an ActionRejectedError; anything else passes through. */
  rejection(error: unknown): unknown;
}

/** What `create` made: one entry per name, in the order given. */
export interface CreateResult {
  /** The idempotency key used (the caller's, or a fresh random one). */
  key: string;
  /** The tag every created droplet carries (`actionwatch:<hash of the key>`). */
  tag: string;
  droplets: CreatedDropletEntry[];
  /** True when this call created them; false when the key had already (or they were found). */
  started: boolean;
  /** True when they were found on DigitalOcean (by the tag) rather than returned by this call's POST. */
  recovered: boolean;
}

/** What a delete did (DELETE /v2/droplets/{id}) and the deletion watch that tells when it is done. */
export interface DeleteResult {
  ref: DeletionRef;
  /** True when DigitalOcean answered 404: the droplet was already gone. */
  alreadyGone: boolean;
  /** True when this call sent the DELETE; false when its key already had. */
  started: boolean;
  /** True when the DELETE's answer was lost (it may have landed): the watch tells. */
  recovered: boolean;
}

/** What a key's record says was started, to tell a second start from the first in a log line. */
function startedIdsOf(record: DoneRecord): number[] {
  if (record.state === 'started') return [record.actionId];
  if (record.state === 'deleted') return [record.dropletId];
  return record.droplets.map((droplet) => droplet.actionId);
}

/** Renews a key's claim; `posting` marks that the POST is about to go out. */
type Lease = { renew(posting?: boolean): Promise<void> };

/**
 * What an earlier holder of the key did: nothing (a fresh claim), died before its POST went out
 * (safe to send), or died after sending it (it may have landed: look, never send).
 */
type Previous = 'none' | 'unsent' | 'sent';

/**
 * Starts DigitalOcean actions at most once per idempotency key, across processes:
 *
 * 1. claim the key in Redis (compare-and-set, with a TTL'd lease renewed before every POST);
 * 2. POST, once: it is sent again only when it provably never reached DigitalOcean (connection
 *    refused, DNS failure). A 2xx whose body does not say which action started, or an answer lost
 *    after the request may have landed (timeout, reset, 5xx), is looked for among the resource's
 *    actions; if none matches, the start stops with ActionProbablyStartedError and the key
 *    remembers it (`unidentified`), so no later start with the key sends it either;
 * 3. record the action id under the key. A later caller with the key gets that action back.
 *
 * A caller that finds a lapsed claim (its owner died) takes it over and looks for the action
 * first. It sends the POST only if the owner never did (the claim records `postedAt` just before
 * each POST); otherwise, not found, it stops with ActionProbablyStartedError.
 */
export class ActionStarter {
  private readonly keys: RunKeys;
  private readonly now: () => number;

  constructor(private readonly options: ActionStarterOptions) {
    this.keys = new RunKeys(options.redis, {
      prefix: options.prefix,
      retentionMs: options.retentionMs,
      tokenProfile: options.tokenProfile,
    });
    this.now = options.now ?? Date.now;
  }

  /**
   * A starter with the claim TTL derived from the configured request timeout. With a
   * `tokenProfile`, `client` must be that profile's (its keys then live in the profile's space).
   */
  static fromConfig(
    redis: Redis,
    config: Config,
    client: DigitalOceanClient,
    logger: Logger,
    options: { tokenProfile?: string | undefined } = {},
  ): ActionStarter {
    return new ActionStarter({
      redis,
      prefix: config.prefix,
      client,
      logger,
      retentionMs: config.watch.retentionMs,
      // The client's budget wait (2 s) plus one request, plus room for the Redis round trips.
      claimTtlMs: config.digitalocean.timeoutMs + 5_000,
      tokenProfile: options.tokenProfile,
    });
  }

  /** The token profile this starter's client uses; undefined for DIGITALOCEAN_TOKEN. */
  get tokenProfile(): string | undefined {
    return this.options.tokenProfile;
  }

  /** Starts the action, waiting out a busy key and, when asked, a busy resource. */
  async start(spec: RunSpec, options: StartOptions = {}): Promise<StartResult> {
    const retry = options.retryPending;
    const busySince = this.now();
    let delay = retry?.initialDelayMs ?? 1_000;
    for (;;) {
      try {
        return await this.whileKeyBusy(() => this.attempt(spec, options), options.signal);
      } catch (error) {
        if (!(error instanceof ActionRejectedError) || !error.pending || retry === undefined) throw error;
        const waited = this.now() - busySince;
        if (waited + delay > retry.forMs) {
          throw new ActionRejectedError(
            `${spec.kind} ${spec.resourceId} was still busy after retrying for ${Math.round(waited / 1000)} s: ${error.message}`,
            error.details,
          );
        }
        this.options.logger.info(
          { kind: spec.kind, resourceId: spec.resourceId, type: spec.body.type, retryInMs: delay },
          `${spec.kind} ${spec.resourceId} is busy; retrying the ${spec.body.type} in ${Math.round(delay)} ms`,
        );
        await sleep(delay * (0.8 + Math.random() * 0.4), options.signal);
        delay = Math.min(delay * 2, retry.maxDelayMs ?? 30_000);
      }
    }
  }

  /**
   * One start: throws ActionRejectedError (with `pending` for a busy resource), RunKeyBusyError
   * when another caller holds the key, or the client's errors. Never sleeps for long, so a chain
   * step can schedule its own retry instead of holding a worker.
   */
  async attempt(spec: RunSpec, options: { key?: string; signal?: AbortSignal } = {}): Promise<StartResult> {
    const outcome = await this.attemptOperation(this.actionOperation(spec), options.key, options.signal);
    return { ...this.resultOf(spec, outcome.found, outcome.recovered), started: outcome.started };
  }

  /** Creates droplets (see attemptCreate), waiting out another caller that holds the key. */
  async create(
    spec: CreateSpec,
    options: { key?: string; signal?: AbortSignal } = {},
  ): Promise<CreateResult> {
    // One key for every try, so a try that waited on the key joins what the holder made.
    const key = options.key ?? randomUUID();
    return this.whileKeyBusy(() => this.attemptCreate(spec, { ...options, key }), options.signal);
  }

  /**
   * Creates droplets (POST /v2/droplets) at most once per key, by the same claim protocol as
   * `attempt` (and, like it, throws RunKeyBusyError rather than wait). Every droplet carries a
   * tag derived from the key, by which a create whose answer was lost is found
   * (GET /v2/droplets?tag_name=…) instead of sent again. Without a key, a fresh random one is
   * used, so such a create is still found or reported as probably started.
   */
  async attemptCreate(
    spec: CreateSpec,
    options: { key?: string; signal?: AbortSignal } = {},
  ): Promise<CreateResult> {
    const key = options.key ?? randomUUID();
    const tag = createTagOf(key, this.options.tokenProfile);
    const outcome = await this.attemptOperation(this.createOperation(spec, tag), key, options.signal);
    return { key, tag, droplets: outcome.found, started: outcome.started, recovered: outcome.recovered };
  }

  /**
   * Deletes a droplet (DELETE /v2/droplets/{id}) at most once per key, by the same claim protocol
   * as `attempt`, waiting out another caller that holds the key. A 404 is a droplet already gone;
   * a lost answer needs no lookup: the deletion watch tells whether it went through.
   */
  async deleteDroplet(
    dropletId: number,
    options: { key?: string; signal?: AbortSignal } = {},
  ): Promise<DeleteResult> {
    return this.whileKeyBusy(() => this.attemptDelete(dropletId, options), options.signal);
  }

  /** `deleteDroplet` in one try: throws RunKeyBusyError rather than wait (as a chain step does). */
  async attemptDelete(
    dropletId: number,
    options: { key?: string; signal?: AbortSignal } = {},
  ): Promise<DeleteResult> {
    const outcome = await this.attemptOperation(this.deleteOperation(dropletId), options.key, options.signal);
    return {
      ref: { kind: 'droplet', resourceId: dropletId, actionId: null, awaits: 'deletion' },
      alreadyGone: outcome.found.alreadyGone,
      started: outcome.started,
      recovered: outcome.recovered,
    };
  }

  /** Runs `attempt` again while another caller holds its key (until that claim ends or lapses). */
  private async whileKeyBusy<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RunKeyBusyError)) throw error;
        await sleep(Math.min(500, Math.max(50, error.expiresAt - this.now())), signal);
      }
    }
  }

  private async attemptOperation<T>(
    operation: Operation<T>,
    key: string | undefined,
    signal?: AbortSignal,
  ): Promise<Outcome<T>> {
    if (key === undefined) {
      const lease: Lease = { renew: async () => {} };
      const found = await this.send(operation, this.now(), 'none', lease, signal);
      return { ...found, started: !found.recovered };
    }
    return this.attemptWithKey(operation, key, signal);
  }

  private async attemptWithKey<T>(
    operation: Operation<T>,
    key: string,
    signal?: AbortSignal,
  ): Promise<Outcome<T>> {
    const { fingerprint } = operation;
    let claim: { raw: string; record: StartingRecord; previous: Previous } | undefined;
    while (claim === undefined) {
      const current = await this.keys.get(key);
      if (current !== undefined && current.record.fingerprint !== fingerprint) {
        throw new InputError(
          `key ${key} was already used to start a different action than the ${operation.what}; use another key`,
        );
      }
      if (isDoneRecord(current?.record)) return this.fromRecord(operation, current.record);
      if (current?.record.state === 'unidentified')
        return this.lookAgain(operation, key, current.raw, current.record, signal);
      const now = this.now();
      if (current?.record.state === 'starting' && current.record.expiresAt > now)
        throw new RunKeyBusyError(key, current.record.expiresAt);
      const lapsed = current?.record.state === 'starting' ? current.record : undefined;
      const record: StartingRecord = {
        state: 'starting',
        owner: randomUUID(),
        fingerprint,
        expiresAt: now + this.options.claimTtlMs,
        since: lapsed?.since ?? now,
        ...(lapsed?.postedAt === undefined ? {} : { postedAt: lapsed.postedAt }),
      };
      const previous: Previous =
        lapsed === undefined ? 'none' : lapsed.postedAt === undefined ? 'unsent' : 'sent';
      const raw = await this.keys.compareAndSet(key, current?.raw, record);
      if (raw !== undefined) claim = { raw, record, previous };
    }
    if (claim.previous !== 'none') {
      this.options.logger.warn(
        { key, ...operation.logContext },
        `the start of key ${key} was left unfinished (its process died?); looking for what it started on DigitalOcean first`,
      );
    }

    const held = claim;
    const lease: Lease = {
      renew: async (posting = false) => {
        const renewed: StartingRecord = {
          ...held.record,
          expiresAt: this.now() + this.options.claimTtlMs,
          ...(posting ? { postedAt: this.now() } : {}),
        };
        const raw = await this.keys.compareAndSet(key, held.raw, renewed);
        if (raw === undefined) throw new ClaimLostError(key);
        held.raw = raw;
        held.record = renewed;
      },
    };
    let found: Found<T>;
    try {
      found = await this.send(operation, held.record.since, held.previous, lease, signal);
    } catch (error) {
      if (error instanceof ClaimLostError) {
        // Our claim lapsed and its new holder already recorded the action; else it is still at it.
        const current = await this.keys.get(key);
        if (isDoneRecord(current?.record)) return this.fromRecord(operation, current.record);
        throw new RunKeyBusyError(key, current?.record.state === 'starting' ? current.record.expiresAt : 0);
      }
      // A definite "not started" frees the key for the next try. A start that was probably made
      // but not found is remembered as such: later starts with the key only look. Anything else
      // (an abort while the POST was out) keeps the claim, with its postedAt: whoever takes it
      // over after it lapses looks on DigitalOcean and does not send.
      if (definitelyNotStarted(error)) await this.keys.compareAndSet(key, held.raw, undefined);
      if (error instanceof ActionProbablyStartedError) {
        const unidentified: UnidentifiedRecord = {
          state: 'unidentified',
          fingerprint,
          since: held.record.since,
          answered: error.details.answered,
          why: error.details.why,
          recordedAt: new Date(this.now()).toISOString(),
        };
        await this.keys.compareAndSet(key, held.raw, unidentified);
      }
      throw error;
    }
    return this.record(operation, key, held.raw, found);
  }

  /** A key whose start was probably made but not identified: look once more, never POST. */
  private async lookAgain<T>(
    operation: Operation<T>,
    key: string,
    raw: string,
    record: UnidentifiedRecord,
    signal?: AbortSignal,
  ): Promise<Outcome<T>> {
    const found = await this.look(operation, record.since, signal);
    if (found === undefined) throw operation.probablyStarted(record.answered, record.why);
    return this.record(operation, key, raw, { found, recovered: true });
  }

  private async look<T>(
    operation: Operation<T>,
    sinceMs: number,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    const found = await operation.find(sinceMs, signal);
    if (found !== undefined) {
      this.options.logger.info(
        { ...operation.logContext, ...operation.idsOf(found) },
        `found the ${operation.what} already started on DigitalOcean; not starting another`,
      );
    }
    return found;
  }

  /**
   * POSTs (with the claim renewed first). Sent again only while it never reached DigitalOcean; a
   * start whose answer was unreadable or lost is looked for, never made again.
   */
  private async send<T>(
    operation: Operation<T>,
    sinceMs: number,
    previous: Previous,
    lease: Lease,
    signal?: AbortSignal,
  ): Promise<Found<T>> {
    if (previous !== 'none') {
      const found = await this.look(operation, sinceMs, signal);
      if (found !== undefined) return { found, recovered: true };
      if (previous === 'sent') {
        const why = 'a process starting it stopped after sending it';
        if (operation.unconfirmed !== undefined)
          return this.unconfirmed(operation, operation.unconfirmed, why);
        throw operation.probablyStarted(false, why);
      }
    }
    for (let attempt = 1; ; attempt++) {
      await lease.renew(true);
      try {
        return { found: await operation.post(signal), recovered: false };
      } catch (error) {
        if (error instanceof ConnectionFailedError) {
          if (attempt >= UNSENT_TRIES) throw error;
          this.options.logger.warn(
            { ...operation.logContext, err: error.message },
            `the ${operation.what} never reached DigitalOcean; sending it again`,
          );
          await sleep(500 * 2 ** attempt, signal);
          continue;
        }
        if (error instanceof UnreadableStartError || error instanceof TransientError) {
          if (operation.unconfirmed !== undefined)
            return this.unconfirmed(operation, operation.unconfirmed, error.message);
          return { found: await this.recover(operation, sinceMs, lease, error, signal), recovered: true };
        }
        throw operation.rejection(error);
      }
    }
  }

  /** A start that may have landed, whose result its watch will tell: done, never sent again. */
  private unconfirmed<T>(operation: Operation<T>, found: T, why: string): Found<T> {
    this.options.logger.warn(
      { ...operation.logContext, err: why },
      `the ${operation.what} may have reached DigitalOcean (${why}); not sending it again: its watch tells whether it did`,
    );
    return { found, recovered: true };
  }

  /**
   * The POST may have started it (a 2xx that does not say what, or a lost answer): find it since
   * the claim, or stop with ActionProbablyStartedError.
   */
  private async recover<T>(
    operation: Operation<T>,
    sinceMs: number,
    lease: Lease,
    error: UnreadableStartError | TransientError,
    signal?: AbortSignal,
  ): Promise<T> {
    const answered = error instanceof UnreadableStartError;
    this.options.logger.warn(
      { ...operation.logContext, err: error.message },
      answered
        ? `DigitalOcean started the ${operation.what} but its answer does not say what it started; looking for it instead of sending it again`
        : `no answer to the ${operation.what}; looking for it on DigitalOcean instead of sending it again`,
    );
    for (let look = 0; look < RECOVERY_LOOKS; look++) {
      if (look > 0) await sleep(1_000 * 2 ** (look - 1), signal);
      await lease.renew();
      try {
        const found = await this.look(operation, sinceMs, signal);
        if (found !== undefined) return found;
      } catch (lookError) {
        if (!(lookError instanceof DigitalOceanApiError || lookError instanceof BudgetExhaustedError))
          throw lookError;
        this.options.logger.warn(
          { ...operation.logContext, err: lookError.message },
          `could not look on DigitalOcean for the ${operation.what}`,
        );
      }
    }
    throw operation.probablyStarted(answered, error.message);
  }

  private async record<T>(
    operation: Operation<T>,
    key: string,
    claimRaw: string,
    found: Found<T>,
  ): Promise<Outcome<T>> {
    const done = operation.toRecord(found.found, new Date(this.now()).toISOString());
    let expected: string | undefined = claimRaw;
    for (;;) {
      if ((await this.keys.compareAndSet(key, expected, done)) !== undefined)
        return { ...found, started: !found.recovered };
      const current = await this.keys.get(key);
      if (current === undefined || !isDoneRecord(current.record)) {
        // Our claim lapsed mid-POST and another caller took it over: what we hold is real, and
        // that caller, finding it recorded, uses it rather than starting its own.
        expected = current?.raw;
        continue;
      }
      const kept = JSON.stringify(startedIdsOf(current.record));
      const extra = JSON.stringify(startedIdsOf(done));
      if (kept !== extra) {
        this.options.logger.error(
          { key, kept, extra },
          `key ${key}: a second start (actions ${extra}) was made after the first start's claim lapsed; the key keeps actions ${kept}`,
        );
      }
      return this.fromRecord(operation, current.record);
    }
  }

  private fromRecord<T>(operation: Operation<T>, record: DoneRecord): Outcome<T> {
    return { found: operation.fromRecord(record), recovered: false, started: false };
  }

  private resultOf(spec: RunSpec, action: Action, recovered: boolean): Omit<StartResult, 'started'> {
    return {
      ref: { kind: spec.kind, resourceId: spec.resourceId, actionId: action.id },
      action,
      recovered,
    };
  }

  /** An action on an existing droplet, image, volume or address (POST /v2/{kind}s/{id}/actions). */
  private actionOperation(spec: RunSpec): Operation<Action> {
    const client = this.options.client;
    const what = describeRun(spec);
    return {
      fingerprint: fingerprintOf(spec),
      what,
      logContext: { kind: spec.kind, resourceId: spec.resourceId, type: spec.body.type },
      post: (signal) => {
        const options = { retries: 0, ...(signal === undefined ? {} : { signal }) };
        if (spec.kind === 'image') return client.initiateImageAction(spec.resourceId, spec.body, options);
        if (spec.kind === 'droplet') return client.initiateDropletAction(spec.resourceId, spec.body, options);
        return client.initiateResourceAction(spec.kind, spec.resourceId, spec.body, options);
      },
      find: (sinceMs, signal) => findStartedAction(client, spec, sinceMs, signal),
      idsOf: (action) => ({ actionId: action.id }),
      toRecord: (action, recordedAt) => ({
        state: 'started',
        fingerprint: fingerprintOf(spec),
        kind: spec.kind,
        resourceId: spec.resourceId,
        actionId: action.id,
        action: compactAction(action),
        recordedAt,
      }),
      fromRecord: (record) => {
        if (record.state !== 'started')
          throw new CorruptRecordError(`run key of the ${what}`, 'not an action');
        return record.action;
      },
      probablyStarted: (answered, why) =>
        new ActionProbablyStartedError({
          kind: spec.kind,
          resourceId: spec.resourceId,
          type: spec.body.type,
          what,
          answered,
          why,
          tokenProfile: this.options.tokenProfile,
        }),
      rejection: (error) => rejection(spec, error),
    };
  }

  /** A droplet deleted by DELETE /v2/droplets/{id}; a 404 is one already gone. */
  private deleteOperation(dropletId: number): Operation<Deleted> {
    const client = this.options.client;
    const what = `deletion of droplet ${dropletId}`;
    const fingerprint = fingerprintOf({ delete: { droplet: dropletId } });
    return {
      fingerprint,
      what,
      logContext: { kind: 'droplet', resourceId: dropletId, type: 'delete' },
      post: async (signal) => {
        try {
          await client.deleteDroplet(dropletId, signal === undefined ? {} : { signal });
          return { alreadyGone: false };
        } catch (error) {
          if (error instanceof NotFoundError) return { alreadyGone: true };
          throw error;
        }
      },
      // A delete leaves nothing to find: a takeover of an unsent one sends it, a sent one is
      // `unconfirmed` (its watch tells).
      find: async () => undefined,
      idsOf: () => ({ dropletId }),
      toRecord: (deleted, recordedAt) => ({
        state: 'deleted',
        fingerprint,
        dropletId,
        alreadyGone: deleted.alreadyGone,
        recordedAt,
      }),
      fromRecord: (record) => {
        if (record.state !== 'deleted')
          throw new CorruptRecordError(`run key of the ${what}`, 'not a delete');
        return { alreadyGone: record.alreadyGone };
      },
      unconfirmed: { alreadyGone: false },
      probablyStarted: (answered, why) =>
        new ActionProbablyStartedError({
          kind: 'droplet',
          resourceId: dropletId,
          type: 'delete',
          what,
          answered,
          why,
          tokenProfile: this.options.tokenProfile,
        }),
      rejection: (error) =>
        rejection({ kind: 'droplet', resourceId: dropletId, type: 'delete', what }, error),
    };
  }

  /** Droplets created by POST /v2/droplets, found again by their create tag. */
  private createOperation(spec: CreateSpec, tag: string): Operation<CreatedDropletEntry[]> {
    const client = this.options.client;
    const what = describeCreate(spec);
    const fingerprint = fingerprintOf({ create: spec.body });
    const body = { ...spec.body, tags: [...(spec.body.tags ?? []), tag] };
    return {
      fingerprint,
      what,
      logContext: { kind: 'droplet', type: 'create', names: spec.names, tag },
      post: async (signal) => {
        const created = await client.createDroplets(body, {
          retries: 0,
          ...(signal === undefined ? {} : { signal }),
        });
        return created.map(({ droplet, actionId }, i) => ({
          dropletId: droplet.id,
          name: spec.names[i] as string,
          actionId,
        }));
      },
      find: (sinceMs, signal) => findCreatedDroplets(client, spec, tag, sinceMs, signal),
      idsOf: (droplets) => ({ dropletIds: droplets.map((droplet) => droplet.dropletId) }),
      toRecord: (droplets, recordedAt) => ({ state: 'created', fingerprint, tag, droplets, recordedAt }),
      fromRecord: (record) => {
        if (record.state !== 'created')
          throw new CorruptRecordError(`run key of the ${what}`, 'not a create');
        return record.droplets.map(({ dropletId, name, actionId }) => ({ dropletId, name, actionId }));
      },
      probablyStarted: (answered, why) =>
        new ActionProbablyStartedError({
          kind: 'droplet',
          resourceId: null,
          type: 'create',
          what,
          answered,
          why,
          tokenProfile: this.options.tokenProfile,
          lookIn: `the droplets tagged ${tag} (\`GET /v2/droplets?tag_name=${tag}\`)`,
        }),
      rejection: (error) => rejection({ kind: 'droplet', resourceId: null, type: 'create', what }, error),
    };
  }
}

/** What a DELETE found: the droplet there (204) or already gone (404). */
interface Deleted {
  alreadyGone: boolean;
}

function definitelyNotStarted(error: unknown): boolean {
  if (error instanceof ActionRejectedError || error instanceof BudgetExhaustedError) return true;
  if (error instanceof ConnectionFailedError) return true;
  if (error instanceof UnreadableStartError) return false;
  return error instanceof DigitalOceanApiError && !(error instanceof TransientError);
}

/** What a refusal is about: the resource (null before a create made it) and the start in words. */
interface Refused {
  kind: RunSpec['kind'];
  resourceId: ResourceId | null;
  type: string;
  what: string;
}

/** A refusal by DigitalOcean becomes an ActionRejectedError; anything else passes through. */
function rejection(spec: RunSpec | Refused, error: unknown): unknown {
  if (!(error instanceof ClientError)) return error;
  const subject: Refused = 'body' in spec ? { ...spec, type: spec.body.type, what: describeRun(spec) } : spec;
  const apiMessage = /returned \d+: (.*)$/s.exec(error.message)?.[1] ?? error.message;
  const pending = error.status === 422 && /pending event/i.test(apiMessage);
  const what = pending
    ? `${subject.kind} ${subject.resourceId} is busy with another action`
    : `DigitalOcean refused the ${subject.what}`;
  return new ActionRejectedError(`${what} (${error.status ?? 'client error'}: ${apiMessage})`, {
    kind: subject.kind,
    resourceId: subject.resourceId,
    type: subject.type,
    status: error.status,
    pending,
    apiMessage,
  });
}
