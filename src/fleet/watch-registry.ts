import { z } from 'zod';
import type { BatchedRead } from '../support/batched-read.js';
import { LuaScript } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import { parseForgivingRecord } from '../support/stored-record.js';
import type { FleetKeys } from './fleet-keys.js';

// Scripts rather than MULTI: every watch step registers or removes, and an ioredis transaction on
// a client carrying BullMQ's scripts is a ~14 KB object (see bench/RESULTS.md, API peak RSS).
const REGISTER = new LuaScript(import.meta.url, 'register-watch', 2);
const REMOVE = new LuaScript(import.meta.url, 'remove-watches', 3);

/** What the sweeper needs to know about a watch between its job's steps. */
export interface Registration {
  enqueuedAt: number;
  deadlineAt: number;
  /** When the watch's job will next run on its own (ms). */
  wakeAt: number;
  /** `observedAt` of the last observation the watch was given (0: none yet). */
  givenAt: number;
}

export function encodeRegistration(entry: Registration): string {
  return JSON.stringify({ e: entry.enqueuedAt, d: entry.deadlineAt, w: entry.wakeAt, g: entry.givenAt });
}

/**
 * A stored registration. Forgiving (see parseForgivingRecord): a damaged entry reads as a watch
 * not registered, which the watch's next step registers afresh.
 */
const registrationSchema = z
  .object({ e: z.number(), d: z.number(), w: z.number(), g: z.number() })
  .transform(
    (raw): Registration => ({ enqueuedAt: raw.e, deadlineAt: raw.d, wakeAt: raw.w, givenAt: raw.g }),
  );

export function decodeRegistration(json: string | null): Registration | undefined {
  return parseForgivingRecord(registrationSchema, json);
}

/**
 * The watches of one token profile that the sweeper looks after, each with the time by which it
 * needs its next observation. Workers register a watch at each step of its job; the sweeper moves
 * its due time on each time it observes the action, and forgets it once it has ended.
 */
export class WatchRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: FleetKeys,
  ) {}

  /**
   * Registers or refreshes a watch. `due` replaces the due time when `replaceDue`, and otherwise
   * only applies to a watch not registered yet (the sweeper's later due time stands).
   */
  async register(watchId: string, entry: Registration, due: number, replaceDue: boolean): Promise<void> {
    await REGISTER.run(
      this.redis,
      [this.keys.watches, this.keys.due],
      [watchId, encodeRegistration(entry), Math.round(due), replaceDue ? '1' : '0'],
    );
  }

  async remove(watchIds: readonly string[]): Promise<void> {
    if (watchIds.length === 0) return;
    await REMOVE.run(this.redis, [this.keys.due, this.keys.watches, this.keys.direct], watchIds);
  }

  /** Watches due by `until`, earliest first. */
  async dueBy(until: number, limit: number): Promise<Array<{ watchId: string; due: number }>> {
    const raw = await this.redis.zrangebyscore(
      this.keys.due,
      '-inf',
      Math.round(until),
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const due: Array<{ watchId: string; due: number }> = [];
    for (let i = 0; i + 1 < raw.length; i += 2)
      due.push({ watchId: raw[i] as string, due: Number(raw[i + 1]) });
    return due;
  }

  async watchIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.due, 0, -1);
  }

  async entries(watchIds: readonly string[]): Promise<Map<string, Registration>> {
    const found = new Map<string, Registration>();
    if (watchIds.length === 0) return found;
    const values = await this.redis.hmget(this.keys.watches, ...watchIds);
    values.forEach((json, index) => {
      const entry = decodeRegistration(json);
      if (entry !== undefined) found.set(watchIds[index] as string, entry);
    });
    return found;
  }

  /** A watch's entry, as a read to make together with others (readTogether). */
  entryRead(watchId: string): BatchedRead<Registration | undefined> {
    return {
      command: 'HGET',
      key: this.keys.watches,
      args: [watchId],
      decode: (reply) => decodeRegistration(typeof reply === 'string' ? reply : null),
    };
  }

  /** Until when (ms) a watch polls with its own GET (see setDirect), as a read; 0 when not marked. */
  directUntilRead(watchId: string): BatchedRead<number> {
    return {
      command: 'HGET',
      key: this.keys.direct,
      args: [watchId],
      decode: (reply) => Number(reply ?? 0),
    };
  }

  /** Whether a sweeper of the profile is looking after its watches now, as a read. */
  sweptRead(): BatchedRead<boolean> {
    return {
      command: 'EXISTS',
      key: this.keys.healthy,
      args: [],
      decode: (reply) => reply === 1,
    };
  }

  /**
   * Says, for `ttlMs`, that a sweeper of the profile looks after its watches (its rounds go
   * through): their jobs wait for sweeps instead of polling with their own GETs.
   */
  async markSwept(ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.healthy, '1', 'PX', ttlMs);
  }

  /** Takes that word back at once: the watches poll with their own GETs from their next step. */
  async clearSwept(): Promise<void> {
    await this.redis.del(this.keys.healthy);
  }

  /** Moves due times of watches still registered (a watch that just ended is not brought back). */
  async setDue(due: ReadonlyMap<string, number>): Promise<void> {
    if (due.size === 0) return;
    const flat: Array<string | number> = [];
    for (const [watchId, at] of due) flat.push(Math.round(at), watchId);
    await this.redis.zadd(this.keys.due, 'XX', ...flat);
  }

  async directUntil(watchIds: readonly string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (watchIds.length === 0) return found;
    const values = await this.redis.hmget(this.keys.direct, ...watchIds);
    values.forEach((value, index) => {
      if (value !== null) found.set(watchIds[index] as string, Number(value));
    });
    return found;
  }

  async setDirect(until: ReadonlyMap<string, number>): Promise<void> {
    if (until.size === 0) return;
    const flat: Array<string | number> = [];
    for (const [watchId, at] of until) flat.push(watchId, Math.round(at));
    await this.redis.hset(this.keys.direct, ...flat);
  }
}
