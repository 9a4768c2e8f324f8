import { InputError } from '../errors/input-error.js';

/**
 * The parameters of the action types a `run` can start, checked before anything reaches
 * DigitalOcean. Each kind's table (droplet-actions.ts, resource-actions.ts) names its types and the
 * parameters each takes, as the OpenAPI files describe them.
 */

export type ParamType = 'integer' | 'string' | 'boolean' | 'object' | 'image' | 'region';

export interface ParamSpec {
  type: ParamType;
  required?: boolean;
  /** For integers: the largest value DigitalOcean takes. */
  max?: number;
}

/** Action types of one kind, each with the parameters it takes. */
export type ActionTable = Record<string, Record<string, ParamSpec>>;

export const NO_PARAMS: Record<string, ParamSpec> = {};

/** A region slug such as nyc3; the same check as an image transfer's region. */
export const REGION_SLUG = /^[a-z]+[0-9]+$/;

function describeType(spec: ParamSpec): string {
  switch (spec.type) {
    case 'integer':
      return spec.max === undefined ? 'a positive whole number' : `a whole number from 1 to ${spec.max}`;
    case 'string':
      return 'a non-empty string';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a JSON object';
    case 'image':
      return 'an image id or slug';
    case 'region':
      return 'a region slug such as nyc3';
  }
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function matches(spec: ParamSpec, value: unknown): boolean {
  switch (spec.type) {
    case 'integer':
      return isPositiveInteger(value) && (spec.max === undefined || value <= spec.max);
    case 'string':
      return typeof value === 'string' && value.trim() !== '';
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'image':
      return isPositiveInteger(value) || (typeof value === 'string' && value.trim() !== '');
    case 'region':
      return typeof value === 'string' && REGION_SLUG.test(value);
  }
}

/**
 * Checks an action's parameters (typed values, as a JSON plan or the library gives them) against
 * its type's entry in `table`. `allowValue` lets a caller accept values it will replace later,
 * such as a chain's references.
 */
export function checkActionParams(
  table: ActionTable,
  type: string,
  params: Record<string, unknown>,
  where: string,
  allowValue: (value: unknown) => boolean = () => false,
): void {
  const specs = table[type] ?? NO_PARAMS;
  const allowed = Object.keys(specs);
  for (const [name, value] of Object.entries(params)) {
    const spec = specs[name];
    if (spec === undefined) {
      const takes = allowed.length === 0 ? 'takes no parameters' : `takes ${allowed.join(', ')}`;
      throw new InputError(`${where}: ${type} ${takes} (got ${JSON.stringify(name)})`);
    }
    if (!allowValue(value) && !matches(spec, value)) {
      throw new InputError(`${where}: ${name} must be ${describeType(spec)} (got ${JSON.stringify(value)})`);
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && params[name] === undefined)
      throw new InputError(`${where}: ${type} needs ${name} (${describeType(spec)})`);
  }
}

/**
 * Turns `--param name=value` text into the typed value the parameter takes: numbers for ids,
 * true/false, JSON for objects. Unknown names are left to `checkActionParams` to refuse.
 */
export function coerceActionParam(table: ActionTable, type: string, name: string, text: string): unknown {
  const spec = table[type]?.[name];
  if (spec === undefined) return text;
  const trimmed = text.trim();
  switch (spec.type) {
    case 'integer':
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
    case 'region':
      return text;
  }
}
