import {
  type ActionTable,
  checkActionParams,
  coerceActionParam,
  NO_PARAMS,
  type ParamSpec,
} from './action-params.js';

/**
 * The droplet action types of POST /v2/droplets/{id}/actions and the parameters each takes, as the
 * OpenAPI files describe them (droplets/models/droplet_actions.yml; `change_backup_policy` is
 * mapped separately there). Checked here so a typo is refused before anything reaches DigitalOcean.
 */

export const DROPLET_ACTIONS = {
  enable_backups: { backup_policy: { type: 'object' } },
  disable_backups: NO_PARAMS,
  change_backup_policy: { backup_policy: { type: 'object', required: true } },
  reboot: NO_PARAMS,
  power_cycle: NO_PARAMS,
  shutdown: NO_PARAMS,
  power_off: NO_PARAMS,
  power_on: NO_PARAMS,
  restore: { image: { type: 'integer', required: true } },
  password_reset: NO_PARAMS,
  resize: { size: { type: 'string', required: true }, disk: { type: 'boolean' } },
  rebuild: { image: { type: 'image', required: true } },
  rename: { name: { type: 'string', required: true } },
  change_kernel: { kernel: { type: 'integer', required: true } },
  enable_ipv6: NO_PARAMS,
  snapshot: { name: { type: 'string' } },
} as const satisfies Record<string, Record<string, ParamSpec>>;

export type DropletActionType = keyof typeof DROPLET_ACTIONS;
export const DROPLET_ACTION_TYPES = Object.keys(DROPLET_ACTIONS) as DropletActionType[];

export function isDropletActionType(value: unknown): value is DropletActionType {
  return typeof value === 'string' && Object.hasOwn(DROPLET_ACTIONS, value);
}

/**
 * Checks a droplet action's parameters (typed values, as a JSON plan or the library gives them).
 * `allowValue` lets a caller accept values it will replace later, such as a chain's references.
 */
export function checkDropletParams(
  type: DropletActionType,
  params: Record<string, unknown>,
  where: string,
  allowValue?: (value: unknown) => boolean,
): void {
  checkActionParams(DROPLET_ACTIONS as ActionTable, type, params, where, allowValue);
}

/** Turns `--param name=value` text into the typed value the droplet action's parameter takes. */
export function coerceDropletParam(type: DropletActionType, name: string, text: string): unknown {
  return coerceActionParam(DROPLET_ACTIONS as ActionTable, type, name, text);
}
