import { isRegionSlug } from './regions.js';

/**
 * Validation of the bodies that create resources and start their actions, following the
 * OpenAPI request schemas (droplet_single_create / droplet_multi_create, volumes_ext4,
 * volume_action_post_*, reserved_ip_create, reserved_ip_action_*, reserved_ipv6_create,
 * nfs_request, nfs_action_*). A problem is a 422 with a message, as in action-requests.ts.
 */

export type Parsed<T> = ({ ok: true } & T) | { ok: false; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

const DROPLET_NAME = /^[a-zA-Z0-9]?[a-z0-9A-Z.-]*[a-z0-9A-Z]$/;
/** DigitalOcean creates at most ten droplets in one request. */
const MAX_NAMES = 10;

export interface DropletCreate {
  names: string[];
  /** Whether the body said `names` (the answer is then `droplets`, even for one). */
  multiple: boolean;
  region: string | undefined;
  size: string;
  image: string | number;
  tags: string[];
}

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

export function parseDropletCreate(body: unknown): Parsed<DropletCreate> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  const multiple = body.names !== undefined;
  const names = multiple ? body.names : [body.name];
  if (!stringArray(names) || names.length === 0) {
    return fail(multiple ? 'names must be an array of droplet names' : 'name is required');
  }
  if (names.length > MAX_NAMES) return fail(`at most ${MAX_NAMES} droplets can be created at once`);
  const bad = names.find((name) => name.length > 255 || !DROPLET_NAME.test(name));
  if (bad !== undefined) return fail(`${JSON.stringify(bad)} is not a valid droplet name`);
  if (typeof body.size !== 'string' || body.size === '') return fail('size is required');
  const image = body.image;
  if (!(typeof image === 'string' && image !== '') && !Number.isInteger(image)) {
    return fail('image must be an image id or slug');
  }
  const region = body.region;
  if (region !== undefined && (typeof region !== 'string' || !isRegionSlug(region))) {
    return fail('region must be the slug of a region');
  }
  const tags = body.tags ?? [];
  if (!stringArray(tags)) return fail('tags must be an array of strings');
  return {
    ok: true,
    names,
    multiple,
    region,
    size: body.size,
    image: image as string | number,
    tags,
  };
}

export interface VolumeCreate {
  name: string;
  sizeGigabytes: number;
  region: string;
  description: string;
  filesystemType: string;
  filesystemLabel: string;
  tags: string[];
}

export function parseVolumeCreate(body: unknown): Parsed<VolumeCreate> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  if (typeof body.name !== 'string' || body.name === '') return fail('name is required');
  const size = body.size_gigabytes;
  if (!Number.isInteger(size) || (size as number) < 1)
    return fail('size_gigabytes must be a positive integer');
  if (typeof body.region !== 'string' || !isRegionSlug(body.region)) {
    return fail('region must be the slug of a region');
  }
  const tags = body.tags ?? [];
  if (!stringArray(tags)) return fail('tags must be an array of strings');
  return {
    ok: true,
    name: body.name,
    sizeGigabytes: size as number,
    region: body.region,
    description: typeof body.description === 'string' ? body.description : '',
    filesystemType: typeof body.filesystem_type === 'string' ? body.filesystem_type : '',
    filesystemLabel: typeof body.filesystem_label === 'string' ? body.filesystem_label : '',
    tags,
  };
}

export type VolumeActionRequest =
  | { type: 'attach' | 'detach'; dropletId: number; region: string | undefined }
  | { type: 'resize'; sizeGigabytes: number; region: string | undefined };

/** POST /v2/volumes/{id}/actions; `byName` for POST /v2/volumes/actions (attach and detach only). */
export function parseVolumeAction(body: unknown, byName: boolean): Parsed<VolumeActionRequest> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  const types = byName ? ['attach', 'detach'] : ['attach', 'detach', 'resize'];
  const type = body.type;
  if (typeof type !== 'string' || !types.includes(type))
    return fail(`type must be one of: ${types.join(', ')}`);
  const region = body.region;
  if (region !== undefined && (typeof region !== 'string' || !isRegionSlug(region))) {
    return fail('region must be the slug of a region');
  }
  if (type === 'resize') {
    const size = body.size_gigabytes;
    if (!Number.isInteger(size) || (size as number) < 1 || (size as number) > 16384) {
      return fail('size_gigabytes must be a whole number of gigabytes up to 16384');
    }
    return { ok: true, type, sizeGigabytes: size as number, region };
  }
  const dropletId = body.droplet_id;
  if (!Number.isSafeInteger(dropletId) || (dropletId as number) < 1) return fail('droplet_id is required');
  return { ok: true, type: type as 'attach' | 'detach', dropletId: dropletId as number, region };
}

export type AddressCreate = { dropletId: number } | { region: string; projectId: string | undefined };

/** POST /v2/reserved_ips and /v2/floating_ips: to a droplet, or reserved in a region. */
export function parseAddressCreate(body: unknown): Parsed<{ create: AddressCreate }> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  if (body.droplet_id !== undefined) {
    const dropletId = body.droplet_id;
    if (!Number.isSafeInteger(dropletId) || (dropletId as number) < 1)
      return fail('droplet_id must be a droplet id');
    return { ok: true, create: { dropletId: dropletId as number } };
  }
  if (typeof body.region !== 'string' || !isRegionSlug(body.region)) {
    return fail('droplet_id or region is required');
  }
  const projectId = typeof body.project_id === 'string' ? body.project_id : undefined;
  return { ok: true, create: { region: body.region, projectId } };
}

export function parseIpv6Create(body: unknown): Parsed<{ region: string }> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  if (typeof body.region_slug !== 'string' || !isRegionSlug(body.region_slug)) {
    return fail('region_slug must be the slug of a region');
  }
  return { ok: true, region: body.region_slug };
}

export type AddressAction = { type: 'assign'; dropletId: number } | { type: 'unassign' };

export function parseAddressAction(body: unknown): Parsed<{ action: AddressAction }> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  if (body.type === 'unassign') return { ok: true, action: { type: 'unassign' } };
  if (body.type !== 'assign') return fail('type must be one of: assign, unassign');
  const dropletId = body.droplet_id;
  if (!Number.isSafeInteger(dropletId) || (dropletId as number) < 1) return fail('droplet_id is required');
  return { ok: true, action: { type: 'assign', dropletId: dropletId as number } };
}

export interface ShareCreate {
  name: string;
  sizeGib: number;
  region: string;
  vpcIds: string[];
  performanceTier: string | undefined;
}

export function parseShareCreate(body: unknown): Parsed<ShareCreate> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  if (typeof body.name !== 'string' || body.name === '') return fail('name is required');
  const size = body.size_gib;
  if (!Number.isInteger(size) || (size as number) < 1) return fail('size_gib must be a positive integer');
  if (typeof body.region !== 'string' || !isRegionSlug(body.region)) {
    return fail('region must be the slug of a region');
  }
  if (!stringArray(body.vpc_ids)) return fail('vpc_ids must be an array of VPC ids');
  const tier = body.performance_tier;
  if (tier !== undefined && typeof tier !== 'string') return fail('performance_tier must be a string');
  return {
    ok: true,
    name: body.name,
    sizeGib: size as number,
    region: body.region,
    vpcIds: body.vpc_ids,
    performanceTier: tier,
  };
}

export const SHARE_ACTION_TYPES = [
  'resize',
  'snapshot',
  'attach',
  'detach',
  'reassign',
  'switch_performance_tier',
] as const;
export type ShareActionType = (typeof SHARE_ACTION_TYPES)[number];

export type ShareAction =
  | { type: 'resize'; sizeGib: number }
  | { type: 'attach' | 'detach'; vpcId: string }
  | { type: 'snapshot' | 'reassign' | 'switch_performance_tier' };

export function parseShareAction(body: unknown): Parsed<{ action: ShareAction }> {
  if (!isObject(body)) return fail('request body must be a JSON object');
  const type = body.type;
  if (typeof type !== 'string' || !(SHARE_ACTION_TYPES as readonly string[]).includes(type)) {
    return fail(`type must be one of: ${SHARE_ACTION_TYPES.join(', ')}`);
  }
  const params = isObject(body.params) ? body.params : {};
  switch (type) {
    case 'resize': {
      const size = params.size_gib;
      if (!Number.isInteger(size) || (size as number) < 1) return fail('params.size_gib is required');
      return { ok: true, action: { type, sizeGib: size as number } };
    }
    case 'attach':
    case 'detach':
      if (typeof params.vpc_id !== 'string' || params.vpc_id === '') return fail('params.vpc_id is required');
      return { ok: true, action: { type, vpcId: params.vpc_id } };
    case 'snapshot':
      if (typeof params.name !== 'string' || params.name === '') return fail('params.name is required');
      return { ok: true, action: { type } };
    default:
      return { ok: true, action: { type: type as 'reassign' | 'switch_performance_tier' } };
  }
}
