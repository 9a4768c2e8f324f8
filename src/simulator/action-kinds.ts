import { isIPv4, isIPv6 } from 'node:net';
import {
  ACTION_RESOURCE_TYPES,
  type ActionResourceType,
  type ResourceId,
  type ResourceKind,
} from '../digitalocean/models.js';

/**
 * The kinds of resource the simulator keeps actions for, named as each action's `resource_type`
 * names them. Droplets and images have whole-number ids; a volume and an NFS share have a UUID;
 * reserved and floating IPs are their address.
 *
 * How each kind's id shows in an action's `resource_id` (the spec's `action.resource_id` is a
 * nullable integer, so only whole numbers can appear there):
 * - droplet, image: the id;
 * - reserved_ip, floating_ip: the IPv4 address as an unsigned 32-bit number, as DigitalOcean does
 *   (45.55.96.47 → 758603823);
 * - reserved_ipv6: a number the simulator gives each address (the spec's reserved IPv6 action
 *   requires an integer, and no IPv6 address fits one);
 * - volume, nfs: null (the volume action examples carry none).
 */
export const ACTION_KINDS = ACTION_RESOURCE_TYPES;
export type ActionKind = ActionResourceType;
export type { ResourceId };

/**
 * Reserved IPs are DigitalOcean's new name for floating IPs: both paths serve the same
 * addresses, so the two kinds share one table (an action keeps the kind its path gave it).
 */
export type ResourceTable = 'droplet' | 'image' | 'volume' | 'ipv4' | 'ipv6' | 'nfs';

export function isActionKind(value: unknown): value is ActionKind {
  return typeof value === 'string' && (ACTION_KINDS as readonly string[]).includes(value);
}

export function isNumericKind(kind: ActionKind): kind is ResourceKind {
  return kind === 'droplet' || kind === 'image';
}

export function tableOf(kind: ActionKind): ResourceTable {
  switch (kind) {
    case 'reserved_ip':
    case 'floating_ip':
      return 'ipv4';
    case 'reserved_ipv6':
      return 'ipv6';
    default:
      return kind;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** 45.55.96.47 → 758603823. */
export function ipv4Number(address: string): number {
  return address.split('.').reduce((total, part) => total * 256 + Number(part), 0);
}

/** The id in the form this kind's table keys it by, or an `Error` saying what was expected. */
export function checkResourceId(kind: ActionKind, id: unknown): ResourceId {
  if (isNumericKind(kind)) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
      throw new Error('resourceId must be a positive integer');
    }
    return id;
  }
  const table = tableOf(kind);
  if (table === 'ipv4') {
    if (typeof id !== 'string' || !isIPv4(id))
      throw new Error(`resourceId of a ${kind} must be an IPv4 address`);
    return id;
  }
  if (table === 'ipv6') {
    if (typeof id !== 'string' || !isIPv6(id))
      throw new Error('resourceId of a reserved_ipv6 must be an IPv6 address');
    return id.toLowerCase();
  }
  if (typeof id !== 'string' || !isUuid(id)) throw new Error(`resourceId of a ${kind} must be a UUID`);
  return id.toLowerCase();
}
