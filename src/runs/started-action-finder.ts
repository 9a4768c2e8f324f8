import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Action } from '../digitalocean/models.js';
import { hasScopedActions } from '../digitalocean/resource-ids.js';
import { startedActionTypes } from './resource-actions.js';
import type { RunSpec } from './run-request.js';

/**
 * How far DigitalOcean's clock may be behind ours. `started_at` has whole seconds, so the window
 * opens at the second the claim was made, minus this.
 */
export const CLOCK_SKEW_MS = 5_000;

function sameRequest(action: Action, spec: RunSpec): boolean {
  if (!startedActionTypes(spec.kind, spec.body.type).includes(action.type ?? '')) return false;
  // Fan-out transfers of one image differ only in their region: never mistake one for another.
  if (spec.body.type === 'transfer' && 'region' in spec.body) return action.region_slug === spec.body.region;
  return true;
}

/**
 * DigitalOcean has no idempotency key, so when a start's answer was lost (a timeout, a dropped
 * connection, a process that died after sending it) the only way to know whether the action exists
 * is to look: the earliest action of the same type (and region, for a transfer) on the resource
 * that started after `sinceMs` (undefined for a kind with no per-resource list). Reads every page, so it costs a few requests; it runs only after
 * something went wrong.
 */
export async function findStartedAction(
  client: DigitalOceanClient,
  spec: RunSpec,
  sinceMs: number,
  signal?: AbortSignal,
): Promise<Action | undefined> {
  // A reserved IPv6 address's actions are listed only with the whole account's, and their
  // resource_id cannot name the address: nothing could be told apart, so nothing is found.
  if (!hasScopedActions(spec.kind)) return undefined;
  const from = Math.floor(sinceMs / 1000) * 1000 - CLOCK_SKEW_MS;
  let found: { action: Action; at: number } | undefined;
  for await (const action of client.iterateResourceActions(
    spec.kind,
    spec.resourceId,
    signal === undefined ? {} : { signal },
  )) {
    if (!sameRequest(action, spec)) continue;
    const at = Date.parse(action.started_at ?? '');
    if (!Number.isFinite(at) || at < from) continue;
    if (found === undefined || at < found.at || (at === found.at && action.id < found.action.id))
      found = { action, at };
  }
  return found?.action;
}
