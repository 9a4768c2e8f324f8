import { z } from 'zod';
import {
  type Action,
  actionSchema,
  type ResourceId,
  RUN_KINDS,
  type RunKind,
} from '../digitalocean/models.js';
import { profilePrefix } from '../support/key-prefix.js';
import { LuaScript } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import { parseStoredRecord } from '../support/stored-record.js';

const COMPARE_AND_SET = new LuaScript(import.meta.url, 'compare-and-set', 1);

/** A process is starting the action: it sent (or is about to send) the POST. */
export interface StartingRecord {
  state: 'starting';
  /** Random per attempt; only the owner may record the result or let go. */
  owner: string;
  fingerprint: string;
  /** When the claim lapses unless renewed; a later caller then takes over. */
  expiresAt: number;
  /**
   * When the first claim on this key was made (kept across takeovers): an action of the same kind
   * started on DigitalOcean after this moment may be the one a crashed owner started.
   */
  since: number;
  /**
   * When a holder of the claim last sent (or was about to send) the POST. A caller taking over a
   * lapsed claim with it may not send again: the POST may have landed.
   */
  postedAt?: number;
}

export interface StartedRecord {
  state: 'started';
  fingerprint: string;
  kind: RunKind;
  /** A number for droplets and images, a UUID or an address for the other kinds. */
  resourceId: ResourceId;
  actionId: number;
  /** The action as the POST (or the recovery) returned it, without its region object. */
  action: Action;
  recordedAt: string;
}

/**
 * The POST went out and DigitalOcean probably started the action (a 2xx that did not say which, or
 * an answer lost after the request may have landed), but it could not be found. The key never
 * sends the POST again: a later start with it only looks for the action once more.
 */
export interface UnidentifiedRecord {
  state: 'unidentified';
  fingerprint: string;
  /** As in StartingRecord: the action, if it exists, started after this moment. */
  since: number;
  /** True for a 2xx answer, false for a lost one. */
  answered: boolean;
  /** What was wrong with the answer. */
  why: string;
  recordedAt: string;
}

/** One droplet a create made, with its `create` action. */
export interface CreatedDropletEntry {
  dropletId: number;
  name: string;
  actionId: number;
}

/**
 * POST /v2/droplets created these droplets (one or several, each with its create action): a
 * later start with the key gets them back and never sends the POST again.
 */
export interface CreatedRecord {
  state: 'created';
  fingerprint: string;
  /** The tag every droplet of the request carries, by which a lost answer is recovered. */
  tag: string;
  droplets: CreatedDropletEntry[];
  recordedAt: string;
}

/**
 * DELETE /v2/droplets/{id} was sent (answered 204, or 404: already gone) or may have landed (its
 * answer was lost): a later start with the key never sends it again. Whether the droplet is gone
 * is for its deletion watch to tell, not for this record.
 */
export interface DeletedRecord {
  state: 'deleted';
  fingerprint: string;
  dropletId: number;
  /** True when DigitalOcean answered 404: there was nothing left to delete. */
  alreadyGone: boolean;
  recordedAt: string;
}

/** A key whose start is done: nothing is sent again with it. */
export type DoneRecord = StartedRecord | CreatedRecord | DeletedRecord;

export type RunKeyRecord = StartingRecord | UnidentifiedRecord | DoneRecord;

export function isDoneRecord(record: RunKeyRecord | undefined): record is DoneRecord {
  return record?.state === 'started' || record?.state === 'created' || record?.state === 'deleted';
}

/**
 * A stored RunKeyRecord. Strict like the outcome and chain records (parseStoredRecord): a damaged
 * key is a CorruptRecordError naming it, never read as "no claim", which would send the POST again.
 */
const runKeyRecordSchema: z.ZodType<RunKeyRecord> = z.discriminatedUnion('state', [
  z.looseObject({
    state: z.literal('starting'),
    owner: z.string(),
    fingerprint: z.string(),
    expiresAt: z.number(),
    since: z.number(),
    postedAt: z.number().optional(),
  }),
  z.looseObject({
    state: z.literal('started'),
    fingerprint: z.string(),
    kind: z.enum(RUN_KINDS),
    resourceId: z.union([z.number(), z.string()]),
    actionId: z.number(),
    action: actionSchema,
    recordedAt: z.string(),
  }),
  z.looseObject({
    state: z.literal('unidentified'),
    fingerprint: z.string(),
    since: z.number(),
    answered: z.boolean(),
    why: z.string(),
    recordedAt: z.string(),
  }),
  z.looseObject({
    state: z.literal('created'),
    fingerprint: z.string(),
    tag: z.string(),
    droplets: z.array(z.looseObject({ dropletId: z.number(), name: z.string(), actionId: z.number() })),
    recordedAt: z.string(),
  }),
  z.looseObject({
    state: z.literal('deleted'),
    fingerprint: z.string(),
    dropletId: z.number(),
    alreadyGone: z.boolean(),
    recordedAt: z.string(),
  }),
]);

/**
 * The Redis key of idempotency key `key` (compare-and-set.lua's one key): under the profile's
 * prefix, in a key space of its own per profile (see RunKeys).
 */
export function runKeyName(prefix: string, tokenProfile: string | undefined, key: string): string {
  const space = tokenProfile === undefined ? '' : `${tokenProfile}:`;
  return `${profilePrefix(prefix, tokenProfile)}:run-key:${space}${key}`;
}

export interface StoredRunKey {
  /** The exact stored text, for compare-and-set. */
  raw: string;
  record: RunKeyRecord;
}

export interface RunKeysOptions {
  prefix: string;
  retentionMs: number;
  /** The token profile whose actions these keys start; undefined for DIGITALOCEAN_TOKEN's. */
  tokenProfile?: string | undefined;
}

/**
 * Idempotency keys of `run`: `<prefix>:run-key:<key>` holds a claim while an action is being
 * started, then the started action's id. The caller's key is all that goes into the Redis key.
 *
 * Each token profile has a key space of its own, `<prefix>:run-key:<profile>:<key>` (the default
 * token's stays `<prefix>:run-key:<key>`): a profile is another token, usually another account,
 * so the same key used with profiles a and b names two runs. Sharing one space would hand b an
 * action started (and only visible) through a's token, or refuse b's run as "a different action".
 * A caller's key can hold no `:`, so no default key can collide with a profile's.
 */
export class RunKeys {
  constructor(
    private readonly redis: Redis,
    private readonly options: RunKeysOptions,
  ) {}

  redisKey(key: string): string {
    return runKeyName(this.options.prefix, this.options.tokenProfile, key);
  }

  async get(key: string): Promise<StoredRunKey | undefined> {
    const redisKey = this.redisKey(key);
    const raw = await this.redis.get(redisKey);
    return raw === null ? undefined : { raw, record: parseStoredRecord(runKeyRecordSchema, redisKey, raw) };
  }

  /**
   * Writes `next` (or deletes, when undefined) only if the key still holds `expected`. Returns the
   * text now stored ("" after a delete), or undefined when the key held something else.
   */
  async compareAndSet(
    key: string,
    expected: string | undefined,
    next: RunKeyRecord | undefined,
  ): Promise<string | undefined> {
    const raw = next === undefined ? '' : JSON.stringify(next);
    const replaced = (await COMPARE_AND_SET.run(
      this.redis,
      [this.redisKey(key)],
      [expected ?? '', raw, Math.max(1000, this.options.retentionMs)],
    )) as number;
    return replaced === 1 ? raw : undefined;
  }
}
