import { isIPv4, isIPv6 } from 'node:net';
import { InputError } from '../errors/input-error.js';
import type { ActionResourceType, ResourceId, WatchKind } from './models.js';

/**
 * How each kind names its resources, in the API's paths and in its action objects. The official
 * OpenAPI files (resources/<kind>/…Action*.yml) say:
 * - droplet, image: a whole-number id, which `resource_id` carries;
 * - volume: a UUID in the path; its actions' `resource_id` is a nullable integer the examples leave
 *   out, so it never names the volume;
 * - reserved_ip, floating_ip: the IPv4 address in the path; `resource_id` is the address as an
 *   unsigned 32-bit number (45.55.96.47 → 758603823);
 * - reserved_ipv6: the IPv6 address in the path; `resource_id` is an integer no address fits, so it
 *   is not checked; there is no single-action GET nor action list of an address;
 * - nfs: a UUID in the path; no single-action GET nor action list of a share;
 * - action: no resource at all, the action is read through GET /v2/actions/{id}.
 */
const COLLECTIONS: Record<Exclude<WatchKind, 'action'>, string> = {
  droplet: 'droplets',
  image: 'images',
  volume: 'volumes',
  reserved_ip: 'reserved_ips',
  floating_ip: 'floating_ips',
  reserved_ipv6: 'reserved_ipv6',
  nfs: 'nfs',
};

/** Kinds with GET /v2/<collection>/{id}/actions[/{action_id}]; the others are read through /v2/actions. */
const SCOPED_KINDS = new Set<WatchKind>(['droplet', 'image', 'volume', 'reserved_ip', 'floating_ip']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isNumericKind(kind: WatchKind): kind is 'droplet' | 'image' {
  return kind === 'droplet' || kind === 'image';
}

/**
 * A resource id as a user writes it, in the one form watch ids and paths use: a positive whole
 * number for droplets and images, a lower-case UUID for volumes and shares, a dotted IPv4 address
 * for reserved and floating IPs, a compressed lower-case IPv6 address for reserved IPv6. Kind
 * `action` has no resource (null).
 */
export function parseResourceIdOf(kind: WatchKind, value: unknown, name = 'resourceId'): ResourceId | null {
  if (kind === 'action') return null;
  if (value === undefined || value === null) throw new InputError(`${name} is required`);
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (isNumericKind(kind)) {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text)))
      throw new InputError(`${name} must be a positive whole number (got ${JSON.stringify(value)})`);
    return Number(text);
  }
  if (kind === 'volume' || kind === 'nfs') {
    if (text === undefined || !UUID.test(text))
      throw new InputError(`${name} of a ${kind} must be its UUID (got ${JSON.stringify(value)})`);
    return text.toLowerCase();
  }
  if (kind === 'reserved_ipv6') {
    const address = text === undefined || !isIPv6(text) ? undefined : canonicalIpv6(text);
    if (address === undefined)
      throw new InputError(
        `${name} of a reserved_ipv6 must be an IPv6 address (got ${JSON.stringify(value)})`,
      );
    return address;
  }
  if (text === undefined || !isIPv4(text))
    throw new InputError(`${name} of a ${kind} must be an IPv4 address (got ${JSON.stringify(value)})`);
  return text;
}

function canonicalIpv6(text: string): string | undefined {
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** 45.55.96.47 → 758603823, as an IPv4 action's `resource_id` has it. */
export function ipv4Number(address: string): number {
  return address.split('.').reduce((total, part) => total * 256 + Number(part), 0);
}

/** 758603823 → 45.55.96.47; undefined for a number that is no IPv4 address. */
export function ipv4Address(value: number): string | undefined {
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xff_ff_ff_ff) return undefined;
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/**
 * The `resource_id` an action of this resource carries, where the API's integer can name it;
 * undefined where it cannot (volumes, shares, IPv6 addresses, kind `action`), and then it is not
 * checked.
 */
export function apiResourceId(kind: WatchKind, resourceId: ResourceId | null): number | undefined {
  if (isNumericKind(kind) && typeof resourceId === 'number') return resourceId;
  if ((kind === 'reserved_ip' || kind === 'floating_ip') && typeof resourceId === 'string')
    return ipv4Number(resourceId);
  return undefined;
}

/**
 * Whether an action's `resource_type` is this kind's. Reserved IPs are DigitalOcean's new name for
 * floating IPs, the same addresses under two paths, so either name answers for either.
 */
export function isResourceTypeOf(kind: WatchKind, resourceType: string): boolean {
  if (kind === 'action') return true;
  if (kind === 'reserved_ip' || kind === 'floating_ip')
    return resourceType === 'reserved_ip' || resourceType === 'floating_ip';
  return resourceType === kind;
}

/**
 * `/v2/<collection>/<id>/actions`, where a resource's actions are started (POST); every kind with
 * a resource has it, even those with no listing there.
 */
export function resourceActionsPath(kind: ActionResourceType, resourceId: ResourceId): string {
  return `/v2/${COLLECTIONS[kind]}/${encodeURIComponent(String(resourceId))}/actions`;
}

/** `/v2/<collection>/<id>/actions`, or undefined for a kind DigitalOcean lists no actions of. */
export function scopedActionsPath(kind: WatchKind, resourceId: ResourceId | null): string | undefined {
  if (kind === 'action' || !SCOPED_KINDS.has(kind) || resourceId === null) return undefined;
  return resourceActionsPath(kind, resourceId);
}

/** Whether DigitalOcean lists this kind's actions per resource (and GETs one there). */
export function hasScopedActions(kind: WatchKind): boolean {
  return SCOPED_KINDS.has(kind);
}

/** The resource id as a watch id spells it: an IPv6 address's `:` (which BullMQ forbids) as `_`. */
export function resourceIdSegment(resourceId: ResourceId): string {
  return String(resourceId).replaceAll(':', '_');
}
