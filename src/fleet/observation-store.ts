import { z } from 'zod';
import { answers } from '../digitalocean/action-answer.js';
import { type Action, actionSchema, classifyStatus } from '../digitalocean/models.js';
import type { BatchedRead } from '../support/batched-read.js';
import { LuaScript } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import { parseForgivingRecord } from '../support/stored-record.js';
import { compactAction } from '../watches/watch.js';
import type { ActionRef } from '../watches/watch-ref.js';
import type { FleetKeys } from './fleet-keys.js';

const RECORD = new LuaScript(import.meta.url, 'record-observations', 1);

export const OBSERVED_VIA = ['list', 'resource-list', 'get'] as const;
export type ObservedVia = (typeof OBSERVED_VIA)[number];

/** One look at one action, by whichever request made it. */
export interface Observation {
  action: Action;
  /** Local clock (the clock of job delays and poll intervals). */
  observedAt: number;
  /** The clock of DigitalOcean's timestamps at the same moment (the same clock outside benchmarks). */
  apiObservedAt: number;
  via: ObservedVia;
}

export function isEnded(action: Action): boolean {
  const status = classifyStatus(action.status);
  return status === 'completed' || status === 'errored';
}

/**
 * The observation is of this watch's action: the same check as a direct poll's answer (same id,
 * and the watched resource where the action names one). An action seen under another resource
 * never resolves the watch.
 */
export function observes(ref: ActionRef, action: Action): boolean {
  return answers(action, ref);
}

/**
 * `t` and `o` lead the JSON so the Lua script can read them without decoding. An ended action
 * keeps its `region` (the outcome reports the action as DigitalOcean returned it); one still in
 * progress is kept compact, as 10,000 of them may be waiting.
 */
function encode(observation: Observation): string {
  const ended = isEnded(observation.action);
  return JSON.stringify({
    t: ended ? 1 : 0,
    o: Math.round(observation.observedAt),
    q: Math.round(observation.apiObservedAt),
    v: observation.via,
    a: ended ? observation.action : compactAction(observation.action),
  });
}

/**
 * A stored observation (`t`, for the Lua script, is not read back). Forgiving (see
 * parseForgivingRecord): a damaged one reads as no observation, and the next look records afresh.
 */
const observationSchema = z
  .object({ o: z.number(), q: z.number(), v: z.enum(OBSERVED_VIA), a: actionSchema })
  .transform((raw): Observation => ({ action: raw.a, observedAt: raw.o, apiObservedAt: raw.q, via: raw.v }));

export function decodeObservation(json: string): Observation | undefined {
  return parseForgivingRecord(observationSchema, json);
}

/** The latest observation of each watched action of one token profile, shared by every worker. */
export class ObservationStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: FleetKeys,
  ) {}

  /** Records observations; resolves with the ids of actions seen ended for the first time. */
  async record(observations: Observation[]): Promise<number[]> {
    if (observations.length === 0) return [];
    const args: Array<string | number> = [];
    for (const observation of observations) {
      args.push(observation.action.id, Math.round(observation.observedAt), encode(observation));
    }
    const ended = (await RECORD.run(this.redis, [this.keys.observations], args)) as Array<string | number>;
    return ended.map(Number);
  }

  /** The observation of one action, as a read to make together with others (readTogether). */
  read(actionId: number): BatchedRead<Observation | undefined> {
    return {
      command: 'HGET',
      key: this.keys.observations,
      args: [String(actionId)],
      decode: (reply) => (typeof reply === 'string' ? decodeObservation(reply) : undefined),
    };
  }

  async getMany(actionIds: readonly number[]): Promise<Map<number, Observation>> {
    const found = new Map<number, Observation>();
    if (actionIds.length === 0) return found;
    const values = await this.redis.hmget(this.keys.observations, ...actionIds.map(String));
    values.forEach((json, index) => {
      const observation = json === null ? undefined : decodeObservation(json);
      if (observation !== undefined) found.set(actionIds[index] as number, observation);
    });
    return found;
  }

  async get(actionId: number): Promise<Observation | undefined> {
    return (await this.getMany([actionId])).get(actionId);
  }

  /** Positions in GET /v2/actions, counted from the oldest action. */
  async positions(actionIds: readonly number[]): Promise<Map<number, number>> {
    const found = new Map<number, number>();
    if (actionIds.length === 0) return found;
    const values = await this.redis.hmget(this.keys.positions, ...actionIds.map(String));
    values.forEach((value, index) => {
      if (value !== null) found.set(actionIds[index] as number, Number(value));
    });
    return found;
  }

  async setPositions(positions: ReadonlyMap<number, number>): Promise<void> {
    if (positions.size === 0) return;
    const flat: Array<string | number> = [];
    for (const [id, position] of positions) flat.push(id, position);
    await this.redis.hset(this.keys.positions, ...flat);
  }

  async forgetPositions(actionIds: readonly number[]): Promise<void> {
    if (actionIds.length > 0) await this.redis.hdel(this.keys.positions, ...actionIds.map(String));
  }

  /** Drops what is kept about actions no watch wants any more. Returns how many were dropped. */
  async prune(watched: ReadonlySet<number>): Promise<number> {
    let dropped = 0;
    for (const key of [this.keys.observations, this.keys.positions]) {
      const ids = await this.redis.hkeys(key);
      const stale = ids.filter((id) => !watched.has(Number(id)));
      for (let start = 0; start < stale.length; start += 1000) {
        dropped += await this.redis.hdel(key, ...stale.slice(start, start + 1000));
      }
    }
    return dropped;
  }
}
