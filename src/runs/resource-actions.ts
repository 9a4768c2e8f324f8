import type { RunKind } from '../digitalocean/models.js';
import type { ActionTable, ParamSpec } from './action-params.js';
import { DROPLET_ACTIONS } from './droplet-actions.js';

/**
 * The action types `run` starts on volumes and IP addresses, and the parameters each takes, as the
 * OpenAPI files describe them: POST /v2/volumes/{volume_id}/actions (volume_action_post_*), and
 * POST /v2/{reserved_ips,floating_ips,reserved_ipv6}/{ip}/actions (*_action_assign/unassign).
 */

const DROPLET_ID: ParamSpec = { type: 'integer', required: true };
const VOLUME_REGION: ParamSpec = { type: 'region' };

export const VOLUME_ACTIONS = {
  attach: { droplet_id: DROPLET_ID, region: VOLUME_REGION },
  detach: { droplet_id: DROPLET_ID, region: VOLUME_REGION },
  resize: { size_gigabytes: { type: 'integer', required: true, max: 16_384 }, region: VOLUME_REGION },
} as const satisfies ActionTable;

export const ADDRESS_ACTIONS = {
  assign: { droplet_id: DROPLET_ID },
  unassign: {},
} as const satisfies ActionTable;

/** The kinds whose actions take `params` (every run kind but image, which takes a region). */
export type ParamKind = Exclude<RunKind, 'image'>;

/** The action table of a kind that takes params. */
export function actionTableOf(kind: ParamKind): ActionTable {
  switch (kind) {
    case 'droplet':
      return DROPLET_ACTIONS as ActionTable;
    case 'volume':
      return VOLUME_ACTIONS;
    case 'reserved_ip':
    case 'floating_ip':
    case 'reserved_ipv6':
      return ADDRESS_ACTIONS;
  }
}

export function actionTypesOf(kind: ParamKind): string[] {
  return Object.keys(actionTableOf(kind));
}

/**
 * The `type` DigitalOcean gives the action a request starts: `attach` starts an `attach_volume`,
 * `assign` an `assign_ip` (the OpenAPI examples); droplet and image actions keep the request's.
 * The bare request type is accepted too, in case an action names itself that way.
 */
export function startedActionTypes(kind: RunKind, type: string): string[] {
  if (kind === 'volume') return [`${type}_volume`, type];
  if (kind === 'reserved_ip' || kind === 'floating_ip' || kind === 'reserved_ipv6')
    return [`${type}_ip`, type];
  return [type];
}
