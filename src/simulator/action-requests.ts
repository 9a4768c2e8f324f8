import { isRegionSlug } from './regions.js';

/**
 * Validation of POST /v2/{droplets,images}/{id}/actions bodies, following the OpenAPI request
 * schemas (droplets/models/droplet_actions.yml, images/models/image_action.yml). A problem is
 * a 422 unprocessable_entity with a message, as DigitalOcean answers a well-formed JSON body it
 * cannot act on.
 */

/** The `type` enum of `droplet_action`, plus `change_backup_policy`, which the spec maps separately. */
export const DROPLET_ACTION_TYPES = [
  'enable_backups',
  'disable_backups',
  'change_backup_policy',
  'reboot',
  'power_cycle',
  'shutdown',
  'power_off',
  'power_on',
  'restore',
  'password_reset',
  'resize',
  'rebuild',
  'rename',
  'change_kernel',
  'enable_ipv6',
  'snapshot',
] as const;

export const IMAGE_ACTION_TYPES = ['convert', 'transfer'] as const;

export type ParsedActionRequest =
  | { ok: true; type: string; region?: string; snapshotName?: string }
  | { ok: false; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): ParsedActionRequest {
  return { ok: false, message };
}

export function parseDropletActionRequest(body: unknown): ParsedActionRequest {
  if (!isObject(body)) return fail('request body must be a JSON object');
  const type = body.type;
  if (typeof type !== 'string' || !(DROPLET_ACTION_TYPES as readonly string[]).includes(type)) {
    return fail(`type must be one of: ${DROPLET_ACTION_TYPES.join(', ')}`);
  }
  switch (type) {
    case 'enable_backups':
      if (body.backup_policy !== undefined && !isObject(body.backup_policy)) {
        return fail('backup_policy must be an object');
      }
      break;
    case 'change_backup_policy':
      if (!isObject(body.backup_policy)) return fail('backup_policy is required');
      break;
    case 'restore':
      if (!Number.isInteger(body.image)) return fail('image must be the id of a backup of this Droplet');
      break;
    case 'resize':
      if (typeof body.size !== 'string' || body.size === '') return fail('size is required');
      if (body.disk !== undefined && typeof body.disk !== 'boolean') return fail('disk must be a boolean');
      break;
    case 'rebuild':
      if (!(typeof body.image === 'string' && body.image !== '') && !Number.isInteger(body.image)) {
        return fail('image must be an image id or slug');
      }
      break;
    case 'rename':
      if (typeof body.name !== 'string' || body.name.trim() === '') return fail('name is required');
      break;
    case 'change_kernel':
      if (!Number.isInteger(body.kernel)) return fail('kernel must be a kernel id');
      break;
    case 'snapshot':
      if (body.name !== undefined && typeof body.name !== 'string') return fail('name must be a string');
      return typeof body.name === 'string' && body.name !== ''
        ? { ok: true, type, snapshotName: body.name }
        : { ok: true, type };
  }
  return { ok: true, type };
}

export function parseImageActionRequest(body: unknown): ParsedActionRequest {
  if (!isObject(body)) return fail('request body must be a JSON object');
  const type = body.type;
  if (type === 'convert') return { ok: true, type };
  if (type === 'transfer') {
    const region = body.region;
    if (typeof region !== 'string' || !isRegionSlug(region)) {
      return fail('region must be the slug of a region to transfer the image to');
    }
    return { ok: true, type, region };
  }
  return fail(`type must be one of: ${IMAGE_ACTION_TYPES.join(', ')}`);
}
