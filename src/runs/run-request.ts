import { createHash } from 'node:crypto';
import {
  type DropletActionRequest,
  type ImageActionRequest,
  isRunKind,
  type ResourceActionRequest,
  RUN_KINDS,
} from '../digitalocean/models.js';
import { parseResourceIdOf } from '../digitalocean/resource-ids.js';
import { InputError } from '../errors/input-error.js';
import { checkActionParams, REGION_SLUG } from './action-params.js';
import {
  checkDropletParams,
  DROPLET_ACTION_TYPES,
  type DropletActionType,
  isDropletActionType,
} from './droplet-actions.js';
import { actionTableOf, actionTypesOf } from './resource-actions.js';

/** Kinds named by a UUID or an address rather than a number: volumes and IP addresses. */
export type AddressedKind = 'volume' | 'reserved_ip' | 'floating_ip' | 'reserved_ipv6';

/** What to start: an image transfer or convert, or any droplet action type with its parameters. */
export type RunRequest =
  | { kind: 'image'; resourceId: number; type: 'transfer'; region: string }
  | { kind: 'image'; resourceId: number; type: 'convert' }
  | {
      kind: 'droplet';
      resourceId: number;
      type: DropletActionType;
      /** The type's parameters as the API names them, e.g. `{ name: 'web-42' }` for a snapshot. */
      params?: Record<string, unknown>;
    }
  | {
      kind: AddressedKind;
      /** A volume's UUID, or the IP address, as `watch` takes it. */
      resourceId: string;
      /** volume: attach, detach, resize; reserved_ip, floating_ip, reserved_ipv6: assign, unassign. */
      type: string;
      /** e.g. `{ droplet_id: 42, region: 'nyc1' }` for an attach. */
      params?: Record<string, unknown>;
    };

/** A validated request: the resource and the exact body POSTed to its actions endpoint. */
export type RunSpec =
  | { kind: 'image'; resourceId: number; body: ImageActionRequest }
  | { kind: 'droplet'; resourceId: number; body: DropletActionRequest }
  | { kind: AddressedKind; resourceId: string; body: ResourceActionRequest };

export const IMAGE_ACTION_TYPES = ['transfer', 'convert'] as const;

/** Letters, digits, `_ . -`: safe in Redis keys and in BullMQ job ids (which forbid `:`). */
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** An idempotency key as a caller gives it (`--key`, `key`); InputError when it is not usable. */
export function parseRunKey(key: string | undefined, name = '--key'): string | undefined {
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY_PATTERN.test(key))
    throw new InputError(
      `${name} must be 1 to 128 letters, digits, _ . - starting with a letter or digit (got ${JSON.stringify(key)})`,
    );
  return key;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseResourceId(value: unknown, where: string): number {
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (text === undefined || !/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text)))
    throw new InputError(`${where} must be a positive whole number (got ${JSON.stringify(value)})`);
  return Number(text);
}

export function parseRegion(value: unknown, where: string): string {
  if (typeof value !== 'string' || !REGION_SLUG.test(value))
    throw new InputError(
      `${where} must be a region slug such as nyc3 or ams3 (got ${JSON.stringify(value)})`,
    );
  return value;
}

/**
 * Validates a run request (from the library, a CLI line or a chain step) into a RunSpec. Every
 * problem is an InputError naming the field, prefixed with `where` when given.
 */
export function parseRunRequest(input: unknown, where = 'run'): RunSpec {
  if (!isObject(input)) throw new InputError(`${where} must be an object`);
  const kind = input.kind;
  if (!isRunKind(kind))
    throw new InputError(
      `${where}.kind must be one of ${RUN_KINDS.join(', ')} (got ${JSON.stringify(kind)})`,
    );
  if (kind !== 'droplet' && kind !== 'image') return parseAddressedRequest(kind, input, where);
  const resourceId = parseResourceId(input.resourceId, `${where}.resourceId`);
  const type = input.type;
  if (kind === 'image') {
    if (input.params !== undefined)
      throw new InputError(`${where}: image actions take no params (give region for a transfer)`);
    if (type === 'convert') {
      if (input.region !== undefined) throw new InputError(`${where}: convert takes no region`);
      return { kind, resourceId, body: { type: 'convert' } };
    }
    if (type === 'transfer') {
      if (input.region === undefined) throw new InputError(`${where}: transfer needs a region`);
      return {
        kind,
        resourceId,
        body: { type: 'transfer', region: parseRegion(input.region, `${where}.region`) },
      };
    }
    throw new InputError(
      `${where}.type must be one of ${IMAGE_ACTION_TYPES.join(', ')} for an image (got ${JSON.stringify(type)})`,
    );
  }
  if (!isDropletActionType(type))
    throw new InputError(
      `${where}.type must be one of ${DROPLET_ACTION_TYPES.join(', ')} for a droplet (got ${JSON.stringify(type)})`,
    );
  if (input.region !== undefined)
    throw new InputError(`${where}: region is for image transfers; droplet actions take params`);
  const params = input.params ?? {};
  if (!isObject(params)) throw new InputError(`${where}.params must be an object`);
  checkDropletParams(type, params, where);
  return { kind, resourceId, body: { ...params, type } };
}

/**
 * The `type` of a volume or IP address action (from a run request or a chain step), refused with
 * the kind's types; a top-level `region` is refused too: a volume's region is one of its params.
 */
export function addressedTypeOf(kind: AddressedKind, input: Record<string, unknown>, where: string): string {
  const type = input.type;
  const types = actionTypesOf(kind);
  if (typeof type !== 'string' || !types.includes(type))
    throw new InputError(
      `${where}.type must be one of ${types.join(', ')} for a ${kind} (got ${JSON.stringify(type)})`,
    );
  if (input.region !== undefined)
    throw new InputError(
      kind === 'volume'
        ? `${where}: a volume's region is a param (params.region)`
        : `${where}: region is for image transfers; ${kind} actions take params`,
    );
  return type;
}

/** A volume or IP address action: the resource as `watch` names it, a type and its params. */
function parseAddressedRequest(kind: AddressedKind, input: Record<string, unknown>, where: string): RunSpec {
  const resourceId = parseResourceIdOf(kind, input.resourceId, `${where}.resourceId`) as string;
  const type = addressedTypeOf(kind, input, where);
  const params = input.params ?? {};
  if (!isObject(params)) throw new InputError(`${where}.params must be an object`);
  checkActionParams(actionTableOf(kind), type, params, where);
  return { kind, resourceId, body: { ...params, type } };
}

/** Words for logs and errors: `snapshot of droplet 42`, `transfer of image 7 to ams3`. */
export function describeRun(spec: RunSpec): string {
  const to = spec.body.type === 'transfer' && 'region' in spec.body ? ` to ${String(spec.body.region)}` : '';
  return `${spec.body.type} of ${spec.kind} ${spec.resourceId}${to}`;
}

/** Stable across processes and key order: what an idempotency key is bound to. */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 32);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const entries = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}
