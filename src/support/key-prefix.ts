import { DEFAULT_TOKEN_PROFILE } from '../watches/watch-ref.js';

/**
 * Key prefixes and Redis Cluster hash tags.
 *
 * Redis Cluster runs a Lua script or a MULTI only when all its keys hash to one slot, and a key
 * holding a `{…}` hash tag hashes by the tag alone. So every key of a deployment starts with its
 * prefix, and in cluster mode that prefix carries a tag: `actionwatch` becomes `{actionwatch}`
 * (BullMQ's own guidance for queue prefixes), so the deployment's queues, outcomes, events, chains
 * and webhook deliveries share one slot. A named token profile's keys (its queue, request budget,
 * sweeper state and run keys) take a tag of their own, `{actionwatch:team_b}`: no script or MULTI
 * spans them and the deployment's keys, and profiles spread over the cluster.
 *
 * A prefix without a tag outside cluster mode keeps every key name it had before tags existed.
 */

/** The hash tag Redis hashes `key` by (its first non-empty `{…}`), or undefined when none. */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return undefined;
  return key.slice(open + 1, close);
}

/**
 * The prefix keys are written under: the configured one, with a hash tag around it in cluster mode
 * unless it holds one already. Every key starts with the prefix, so whatever braces it holds, all
 * keys under it hash by the same tag.
 */
export function deploymentPrefix(configured: string, options: { cluster: boolean }): string {
  if (!options.cluster || hashTagOf(configured) !== undefined) return configured;
  return `{${configured}}`;
}

/**
 * The prefix of one token profile's keys. The default profile (undefined or `default`) and every
 * profile of an untagged prefix use the deployment's prefix as it is; a named profile of a tagged
 * prefix gets the tag `{<tag>:<profile>}` (a prefix cannot hold `:`, so no deployment's tag is
 * ever a profile's).
 */
export function profilePrefix(prefix: string, profile: string | undefined): string {
  const tag = hashTagOf(prefix);
  if (tag === undefined || profile === undefined || profile === DEFAULT_TOKEN_PROFILE) return prefix;
  return prefix.replace(`{${tag}}`, `{${tag}:${profile}}`);
}
