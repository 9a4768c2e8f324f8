import { InputError } from '../errors/input-error.js';

/**
 * References from one step to an earlier step's results, written `${steps.<id>.<field>}` (or
 * `${steps.<id>.<n>.<field>}` to pick one run of a fan-out, counting from 0):
 *
 * - `imageId`: the image a droplet `snapshot` run made;
 * - `actionId`: the id of the run's action;
 * - `resourceId`: the resource the run acted on (a number, or a volume UUID or IP address);
 * - `dropletId`: the droplet a `create` run made (for a create, `resourceId` is the same);
 * - `ipv4`: the public IPv4 address of that droplet, known once it is active (`until: active`).
 *
 * A value that is exactly one reference becomes that number (or, for `ipv4`, that string); a
 * reference inside a longer string (a snapshot name) is replaced by its text.
 */

export const REFERENCE_FIELDS = ['imageId', 'actionId', 'resourceId', 'dropletId', 'ipv4'] as const;
export type ReferenceField = (typeof REFERENCE_FIELDS)[number];

/**
 * `${steps.<id>.dropletIds}`: every droplet a step's create runs made. Not a value but a fan-out:
 * as a run's `droplet` it makes that run once per create run (see chain-plan.ts).
 */
export const FAN_OUT_FIELD = 'dropletIds';

/** The step a run's `droplet: "${steps.<id>.dropletIds}"` fans out over, if that is what it is. */
export function fanOutStep(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  const match = new RegExp(ONE.source).exec(trimmed);
  if (match === null || match[0] !== trimmed) return undefined;
  const [, step, index, field] = match;
  return field === FAN_OUT_FIELD && index === undefined ? step : undefined;
}

export interface Reference {
  step: string;
  /** Which run of the step; undefined means the step's only run. */
  index: number | undefined;
  field: ReferenceField;
}

const ONE = /\$\{\s*steps\.([A-Za-z][A-Za-z0-9_-]*)(?:\.(\d+))?\.([A-Za-z][A-Za-z0-9]*)\s*\}/g;
const ANY = /\$\{[^}]*\}?/g;

export function hasReference(value: unknown): value is string {
  return typeof value === 'string' && value.includes('${');
}

/** The references in a string; throws InputError for `${…}` that is not a valid reference. */
export function referencesIn(text: string, where: string): Reference[] {
  const found: Reference[] = [];
  for (const match of text.matchAll(ANY)) {
    const one = new RegExp(ONE.source).exec(match[0]);
    if (one === null || one[0] !== match[0]) {
      throw new InputError(
        `${where}: ${JSON.stringify(match[0])} is not a reference; write \${steps.<id>.<field>} with a field among ${REFERENCE_FIELDS.join(', ')}`,
      );
    }
    const [, step, index, field] = one;
    if (field === FAN_OUT_FIELD)
      throw new InputError(
        `${where}: ${JSON.stringify(match[0])} stands for several droplets: use it as a whole run's droplet, e.g. { droplet: "\${steps.${step}.dropletIds}", type: power_off }, which runs once per droplet`,
      );
    if (!(REFERENCE_FIELDS as readonly string[]).includes(field ?? '')) {
      throw new InputError(
        `${where}: ${JSON.stringify(match[0])} names no result a step has (use ${REFERENCE_FIELDS.join(', ')})`,
      );
    }
    found.push({
      step: step ?? '',
      index: index === undefined ? undefined : Number(index),
      field: field as ReferenceField,
    });
  }
  return found;
}

/** Whether the whole value is one reference (so it resolves to a number, not a string). */
export function isWholeReference(text: string): boolean {
  const trimmed = text.trim();
  const match = new RegExp(ONE.source).exec(trimmed);
  return match !== null && match[0] === trimmed;
}

/** Replaces every reference in `text`; `lookup` gives the value (or throws naming what is missing). */
export function substitute(text: string, lookup: (reference: Reference) => number | string): string | number {
  if (isWholeReference(text)) {
    const [reference] = referencesIn(text.trim(), 'reference');
    if (reference !== undefined) return lookup(reference);
  }
  return text.replace(new RegExp(ONE.source, 'g'), (whole) => {
    const [reference] = referencesIn(whole, 'reference');
    return reference === undefined ? whole : String(lookup(reference));
  });
}
