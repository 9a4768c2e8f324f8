import { InputError } from '../errors/input-error.js';

/**
 * The droplet action types of POST /v2/droplets/{id}/actions and the parameters each takes, as the
 * OpenAPI files describe them (droplets/models/droplet_actions.yml; `change_backup_policy` is
 * mapped separately there). Checked here so a typo is refused before anything reaches DigitalOcean.
 */

type ParamType = 'integer' | 'string' | 'boolean' | 'object' | 'image';

interface ParamSpec {
  type: ParamType;
  required?: boolean;
}

const NO_PARAMS: Record<string, ParamSpec> = {};

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

function specsOf(type: DropletActionType): Record<string, ParamSpec> {
  return DROPLET_ACTIONS[type];
}

function describeType(type: ParamType): string {
  switch (type) {
    case 'integer':
      return 'a positive whole number';
    case 'string':
      return 'a non-empty string';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a JSON object';
    case 'image':
      return 'an image id or slug';
  }
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function matches(type: ParamType, value: unknown): boolean {
  switch (type) {
    case 'integer':
      return isPositiveInteger(value);
    case 'string':
      return typeof value === 'string' && value.trim() !== '';
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'image':
      return isPositiveInteger(value) || (typeof value === 'string' && value.trim() !== '');
  }
}

/**
 * Checks a droplet action's parameters (typed values, as a JSON plan or the library gives them).
 * `allowValue` lets a caller accept values it will replace later, such as a chain's references.
 */
export function checkDropletParams(
  type: DropletActionType,
  params: Record<string, unknown>,
  where: string,
  allowValue: (value: unknown) => boolean = () => false,
): void {
  const specs = specsOf(type);
  const allowed = Object.keys(specs);
  for (const [name, value] of Object.entries(params)) {
    const spec = specs[name];
    if (spec === undefined) {
      const takes = allowed.length === 0 ? 'takes no parameters' : `takes ${allowed.join(', ')}`;
      throw new InputError(`${where}: ${type} ${takes} (got ${JSON.stringify(name)})`);
    }
    if (!allowValue(value) && !matches(spec.type, value)) {
      throw new InputError(
        `${where}: ${name} must be ${describeType(spec.type)} (got ${JSON.stringify(value)})`,
      );
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && params[name] === undefined)
      throw new InputError(`${where}: ${type} needs ${name} (${describeType(spec.type)})`);
  }
}

/**
 * Turns `--param name=value` text into the typed value the parameter takes: numbers for ids,
 * true/false, JSON for objects. Unknown names are left to `checkDropletParams` to refuse.
 */
export function coerceDropletParam(type: DropletActionType, name: string, text: string): unknown {
  const spec = specsOf(type)[name];
  if (spec === undefined) return text;
  const trimmed = text.trim();
  switch (spec.type) {
    case 'integer':
      return /^\d+$/.test(trimmed) ? Number(trimmed) : text;
    case 'image':
      return /^\d+$/.test(trimmed) ? Number(trimmed) : text;
    case 'boolean':
      return trimmed === 'true' ? true : trimmed === 'false' ? false : text;
    case 'object':
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        return text;
      }
    case 'string':
      return text;
  }
}
