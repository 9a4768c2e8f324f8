import { profilePrefix } from '../support/key-prefix.js';

/**
 * Redis keys of batched observation, one set per token profile (observations made with one token
 * are never used for another's watches), plus the duration history shared by every profile.
 */
export interface FleetKeys {
  /** ZSET watch id → when it next needs an observation (ms). Every registered watch is here. */
  due: string;
  /** HASH watch id → registration (enqueue time, deadline, wake time, last observation given). */
  watches: string;
  /** HASH watch id → until when the watch polls with its own GET (ms): the planner's "direct". */
  direct: string;
  /** HASH action id → the latest observation of that action (compact JSON). */
  observations: string;
  /** HASH action id → its position in GET /v2/actions counted from the oldest (0-based). */
  positions: string;
  /** STRING JSON: what the sweeper learned about GET /v2/actions (order, total, anchors). */
  listing: string;
  /** STRING: the sweeper lease; its holder alone sweeps for this profile. */
  lease: string;
  /** STRING with a TTL, set after each round that went through: watches may wait for sweeps. */
  healthy: string;
}

/**
 * One profile's keys, under the profile's prefix so that they share its slot: the observer's and
 * the registry's MULTIs span several of them; record-observations.lua takes `observations`, the
 * lease scripts `lease`.
 */
export function fleetKeys(prefix: string, profile: string): FleetKeys {
  const base = `${profilePrefix(prefix, profile)}:fleet:${profile}`;
  return {
    due: `${base}:due`,
    watches: `${base}:watches`,
    direct: `${base}:direct`,
    observations: `${base}:obs`,
    positions: `${base}:positions`,
    listing: `${base}:listing`,
    lease: `${base}:lease`,
    healthy: `${base}:healthy`,
  };
}

/**
 * HASH `<kind>:<type>|<bucket>` → count: how long finished actions took, for every profile (so in
 * the deployment's slot; only single-key commands touch it).
 */
export function durationsKey(prefix: string): string {
  return `${prefix}:fleet:durations`;
}
