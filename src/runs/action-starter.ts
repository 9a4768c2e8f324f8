import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Action } from '../digitalocean/models.js';
import { ActionProbablyStartedError } from '../errors/action-probably-started-error.js';
import { ActionRejectedError } from '../errors/action-rejected-error.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import {
  ClientError,
  ConnectionFailedError,
  DigitalOceanApiError,
  TransientError,
  UnreadableStartError,
} from '../errors/digitalocean-api-error.js';
import { InputError } from '../errors/input-error.js';
import { RunKeyBusyError } from '../errors/run-key-busy-error.js';
import type { Logger } from '../logging/logger.js';
import type { Redis } from '../support/redis.js';
import { sleep } from '../support/sleep.js';
import { compactAction } from '../watches/watch.js';
import type { ActionRef } from '../watches/watch-ref.js';
import { RunKeys, type StartedRecord, type StartingRecord, type UnidentifiedRecord } from './run-keys.js';
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

type Found = { action: Action; recovered: boolean };

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
        return await this.attempt(spec, options);
      } catch (error) {
        if (error instanceof RunKeyBusyError) {
          await sleep(Math.min(500, Math.max(50, error.expiresAt - this.now())), options.signal);
          continue;
        }
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
    if (options.key === undefined) {
      const lease: Lease = { renew: async () => {} };
      const found = await this.send(spec, this.now(), 'none', lease, options.signal);
      return { ...this.resultOf(spec, found.action, found.recovered), started: !found.recovered };
    }
    return this.attemptWithKey(spec, options.key, options.signal);
  }

  private async attemptWithKey(spec: RunSpec, key: string, signal?: AbortSignal): Promise<StartResult> {
    const fingerprint = fingerprintOf(spec);
    let claim: { raw: string; record: StartingRecord; previous: Previous } | undefined;
    while (claim === undefined) {
      const current = await this.keys.get(key);
      if (current !== undefined && current.record.fingerprint !== fingerprint) {
        throw new InputError(
          `key ${key} was already used to start a different action than the ${describeRun(spec)}; use another key`,
        );
      }
      if (current?.record.state === 'started') return this.fromRecord(spec, current.record);
      if (current?.record.state === 'unidentified')
        return this.lookAgain(spec, key, current.raw, current.record, signal);
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
        { key, kind: spec.kind, resourceId: spec.resourceId },
        `the start of key ${key} was left unfinished (its process died?); looking for its action on DigitalOcean first`,
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
    let found: Found;
    try {
      found = await this.send(spec, held.record.since, held.previous, lease, signal);
    } catch (error) {
      if (error instanceof ClaimLostError) {
        // Our claim lapsed and its new holder already recorded the action; else it is still at it.
        const current = await this.keys.get(key);
        if (current?.record.state === 'started') return this.fromRecord(spec, current.record);
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
    return this.record(spec, key, held.raw, fingerprint, found);
  }

  /** A key whose start was probably made but not identified: look once more, never POST. */
  private async lookAgain(
    spec: RunSpec,
    key: string,
    raw: string,
    record: UnidentifiedRecord,
    signal?: AbortSignal,
  ): Promise<StartResult> {
    const action = await this.look(spec, record.since, signal);
    if (action === undefined) throw this.probablyStarted(spec, record.answered, record.why);
    return this.record(spec, key, raw, record.fingerprint, { action, recovered: true });
  }

  private async look(spec: RunSpec, sinceMs: number, signal?: AbortSignal): Promise<Action | undefined> {
    const action = await findStartedAction(this.options.client, spec, sinceMs, signal);
    if (action !== undefined) {
      this.options.logger.info(
        { kind: spec.kind, resourceId: spec.resourceId, actionId: action.id },
        `found the ${describeRun(spec)} already started on DigitalOcean (action ${action.id}); not starting another`,
      );
    }
    return action;
  }

  private probablyStarted(spec: RunSpec, answered: boolean, why: string): ActionProbablyStartedError {
    return new ActionProbablyStartedError({
      kind: spec.kind,
      resourceId: spec.resourceId,
      type: spec.body.type,
      what: describeRun(spec),
      answered,
      why,
      tokenProfile: this.options.tokenProfile,
    });
  }

  /**
   * POSTs (with the claim renewed first). Sent again only while it never reached DigitalOcean; an
   * action whose answer was unreadable or lost is looked for, never started again.
   */
  private async send(
    spec: RunSpec,
    sinceMs: number,
    previous: Previous,
    lease: Lease,
    signal?: AbortSignal,
  ): Promise<Found> {
    if (previous !== 'none') {
      const action = await this.look(spec, sinceMs, signal);
      if (action !== undefined) return { action, recovered: true };
      if (previous === 'sent')
        throw this.probablyStarted(spec, false, 'a process starting it stopped after sending it');
    }
    for (let attempt = 1; ; attempt++) {
      await lease.renew(true);
      try {
        return { action: await this.post(spec, signal), recovered: false };
      } catch (error) {
        if (error instanceof ConnectionFailedError) {
          if (attempt >= UNSENT_TRIES) throw error;
          this.options.logger.warn(
            { kind: spec.kind, resourceId: spec.resourceId, err: error.message },
            `the ${describeRun(spec)} never reached DigitalOcean; sending it again`,
          );
          await sleep(500 * 2 ** attempt, signal);
          continue;
        }
        if (error instanceof UnreadableStartError || error instanceof TransientError) {
          return { action: await this.recover(spec, sinceMs, lease, error, signal), recovered: true };
        }
        throw rejection(spec, error);
      }
    }
  }

  /**
   * The POST may have started the action (a 2xx that does not say which, or a lost answer): find
   * it among the resource's actions since the claim, or stop with ActionProbablyStartedError.
   */
  private async recover(
    spec: RunSpec,
    sinceMs: number,
    lease: Lease,
    error: UnreadableStartError | TransientError,
    signal?: AbortSignal,
  ): Promise<Action> {
    const answered = error instanceof UnreadableStartError;
    this.options.logger.warn(
      { kind: spec.kind, resourceId: spec.resourceId, err: error.message },
      answered
        ? `DigitalOcean started the ${describeRun(spec)} but its answer does not say which action it is; looking for it instead of sending it again`
        : `no answer to the ${describeRun(spec)}; looking for it on DigitalOcean instead of sending it again`,
    );
    for (let look = 0; look < RECOVERY_LOOKS; look++) {
      if (look > 0) await sleep(1_000 * 2 ** (look - 1), signal);
      await lease.renew();
      try {
        const action = await this.look(spec, sinceMs, signal);
        if (action !== undefined) return action;
      } catch (lookError) {
        if (!(lookError instanceof DigitalOceanApiError || lookError instanceof BudgetExhaustedError))
          throw lookError;
        this.options.logger.warn(
          { kind: spec.kind, resourceId: spec.resourceId, err: lookError.message },
          `could not list the actions of ${spec.kind} ${spec.resourceId} to find the ${describeRun(spec)}`,
        );
      }
    }
    throw this.probablyStarted(spec, answered, error.message);
  }

  private post(spec: RunSpec, signal?: AbortSignal): Promise<Action> {
    const options = { retries: 0, ...(signal === undefined ? {} : { signal }) };
    if (spec.kind === 'image')
      return this.options.client.initiateImageAction(spec.resourceId, spec.body, options);
    if (spec.kind === 'droplet')
      return this.options.client.initiateDropletAction(spec.resourceId, spec.body, options);
    return this.options.client.initiateResourceAction(spec.kind, spec.resourceId, spec.body, options);
  }

  private async record(
    spec: RunSpec,
    key: string,
    claimRaw: string,
    fingerprint: string,
    found: Found,
  ): Promise<StartResult> {
    const started: StartedRecord = {
      state: 'started',
      fingerprint,
      kind: spec.kind,
      resourceId: spec.resourceId,
      actionId: found.action.id,
      action: compactAction(found.action),
      recordedAt: new Date(this.now()).toISOString(),
    };
    let expected: string | undefined = claimRaw;
    for (;;) {
      if ((await this.keys.compareAndSet(key, expected, started)) !== undefined)
        return { ...this.resultOf(spec, found.action, found.recovered), started: !found.recovered };
      const current = await this.keys.get(key);
      if (current?.record.state !== 'started') {
        // Our claim lapsed mid-POST and another caller took it over: the action we hold is real,
        // and that caller, finding it recorded, uses it rather than starting its own.
        expected = current?.raw;
        continue;
      }
      if (current.record.actionId !== found.action.id) {
        this.options.logger.error(
          { key, kept: current.record.actionId, extra: found.action.id },
          `key ${key}: a second action (${found.action.id}) was started after the first start's claim lapsed; the key keeps action ${current.record.actionId}`,
        );
      }
      return this.fromRecord(spec, current.record);
    }
  }

  private fromRecord(spec: RunSpec, record: StartedRecord): StartResult {
    return { ...this.resultOf(spec, record.action, false), started: false };
  }

  private resultOf(spec: RunSpec, action: Action, recovered: boolean): Omit<StartResult, 'started'> {
    return {
      ref: { kind: spec.kind, resourceId: spec.resourceId, actionId: action.id },
      action,
      recovered,
    };
  }
}

function definitelyNotStarted(error: unknown): boolean {
  if (error instanceof ActionRejectedError || error instanceof BudgetExhaustedError) return true;
  if (error instanceof ConnectionFailedError) return true;
  if (error instanceof UnreadableStartError) return false;
  return error instanceof DigitalOceanApiError && !(error instanceof TransientError);
}

/** A refusal by DigitalOcean becomes an ActionRejectedError; anything else passes through. */
function rejection(spec: RunSpec, error: unknown): unknown {
  if (!(error instanceof ClientError)) return error;
  const apiMessage = /returned \d+: (.*)$/s.exec(error.message)?.[1] ?? error.message;
  const pending = error.status === 422 && /pending event/i.test(apiMessage);
  const what = pending
    ? `${spec.kind} ${spec.resourceId} is busy with another action`
    : `DigitalOcean refused the ${describeRun(spec)}`;
  return new ActionRejectedError(`${what} (${error.status ?? 'client error'}: ${apiMessage})`, {
    kind: spec.kind,
    resourceId: spec.resourceId,
    type: spec.body.type,
    status: error.status,
    pending,
    apiMessage,
  });
}
