import { createHash } from 'node:crypto';
import type { DropletCreateRequest } from '../digitalocean/models.js';
import { InputError } from '../errors/input-error.js';
import { parseRegion } from './run-request.js';

/**
 * Droplet creation (POST /v2/droplets) as the library, the CLI and chain steps ask for it, checked
 * against the OpenAPI request schemas (droplet_single_create / droplet_multi_create) so that a typo
 * is refused before anything reaches DigitalOcean.
 */
export interface DropletCreateInput {
  /** One name creates one droplet; several (up to ten) are one multi-create request. */
  names: string[];
  region: string;
  size: string;
  /** An image id, or a public image's slug (`ubuntu-24-04-x64`). */
  image: number | string;
  /** SSH key ids or fingerprints to embed. */
  sshKeys?: Array<number | string>;
  tags?: string[];
  /** Cloud-init or a script, at most 64 KiB. */
  userData?: string;
}

/** A validated create: the names, and the body POSTed without the create tag (see createTagOf). */
export interface CreateSpec {
  names: string[];
  body: DropletCreateRequest;
}

/** DigitalOcean creates at most ten droplets in one request. */
export const MAX_CREATE_NAMES = 10;

/** The spec's droplet name pattern (a hostname), at most 255 characters. */
const DROPLET_NAME = /^[a-zA-Z0-9]?[a-z0-9A-Z.-]*[a-z0-9A-Z]$/;
/** The tags API's name pattern. */
const TAG_NAME = /^[a-zA-Z0-9_\-:]+$/;
const SIZE_SLUG = /^[a-z0-9][a-z0-9-]*$/;
const IMAGE_SLUG = /^[a-z0-9][a-z0-9._-]*$/;
/** The MD5 fingerprint DigitalOcean shows for an SSH key. */
const SSH_FINGERPRINT = /^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/i;
const MAX_USER_DATA_BYTES = 64 * 1024;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function listOf(value: unknown, where: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InputError(`${where} must be an array`);
  return value;
}

function parseNames(value: unknown, where: string): string[] {
  const names = listOf(value, where);
  if (names.length === 0) throw new InputError(`${where}: give at least one droplet name`);
  if (names.length > MAX_CREATE_NAMES)
    throw new InputError(
      `${where}: DigitalOcean creates at most ${MAX_CREATE_NAMES} droplets in one request (got ${names.length})`,
    );
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== 'string' || name.length > 255 || !DROPLET_NAME.test(name))
      throw new InputError(
        `${where}: ${JSON.stringify(name)} is not a droplet name (letters, digits, . and -, at most 255, as a hostname)`,
      );
    if (seen.has(name)) throw new InputError(`${where}: ${JSON.stringify(name)} is given twice`);
    seen.add(name);
  }
  return names as string[];
}

function parseImage(value: unknown, where: string): number | string {
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return parseImage(Number(value), where);
  if (isPositiveInteger(value) || (typeof value === 'string' && IMAGE_SLUG.test(value))) return value;
  throw new InputError(
    `${where} must be an image id or a slug such as ubuntu-24-04-x64 (got ${JSON.stringify(value)})`,
  );
}

function parseSshKey(value: unknown, where: string): number | string {
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return parseSshKey(Number(value), where);
  if (isPositiveInteger(value) || (typeof value === 'string' && SSH_FINGERPRINT.test(value))) return value;
  throw new InputError(
    `${where}: ${JSON.stringify(value)} is neither an SSH key id nor a fingerprint (aa:bb:…, 16 pairs)`,
  );
}

type Field = keyof DropletCreateInput;

/**
 * Validates a create request; every problem is an InputError naming the field: `create.size`, or
 * as `fields` names it (the CLI's `--size`).
 */
export function parseDropletCreate(
  input: unknown,
  where = 'create',
  fields: Partial<Record<Field, string>> = {},
): CreateSpec {
  if (!isObject(input)) throw new InputError(`${where} must be an object`);
  const field = (name: Field) => fields[name] ?? `${where}.${name}`;
  const names = parseNames(input.names, field('names'));
  if (input.region === undefined)
    throw new InputError(`${field('region')} is required (a slug such as nyc3)`);
  const region = parseRegion(input.region, field('region'));
  if (input.size === undefined)
    throw new InputError(`${field('size')} is required (a slug such as s-1vcpu-1gb)`);
  if (typeof input.size !== 'string' || !SIZE_SLUG.test(input.size))
    throw new InputError(
      `${field('size')} must be a size slug such as s-1vcpu-1gb (got ${JSON.stringify(input.size)})`,
    );
  if (input.image === undefined) throw new InputError(`${field('image')} is required (an image id or slug)`);
  const image = parseImage(input.image, field('image'));
  const sshKeys = listOf(input.sshKeys, field('sshKeys')).map((key) => parseSshKey(key, field('sshKeys')));
  const tags = listOf(input.tags, field('tags')).map((tag) => {
    if (typeof tag !== 'string' || tag.length > 255 || !TAG_NAME.test(tag))
      throw new InputError(
        `${field('tags')}: ${JSON.stringify(tag)} is not a tag name (letters, digits, _ - :, at most 255)`,
      );
    return tag;
  });
  const userData = input.userData;
  if (userData !== undefined) {
    if (typeof userData !== 'string') throw new InputError(`${field('userData')} must be text`);
    if (Buffer.byteLength(userData) > MAX_USER_DATA_BYTES)
      throw new InputError(`${field('userData')} is over DigitalOcean's limit of 64 KiB`);
  }
  const body: DropletCreateRequest = {
    ...(names.length === 1 ? { name: names[0] as string } : { names }),
    region,
    size: input.size,
    image,
    ...(sshKeys.length === 0 ? {} : { ssh_keys: sshKeys }),
    ...(tags.length === 0 ? {} : { tags: [...new Set(tags)] }),
    ...(userData === undefined ? {} : { user_data: userData }),
  };
  return { names, body };
}

/**
 * The tag every droplet of one keyed create carries (`actionwatch:<12 hex>`, valid per the tags
 * API), so that a create whose answer was lost is found with GET /v2/droplets?tag_name=…: a
 * droplet has no idempotency key, and its name need not be unique.
 */
export function createTagOf(key: string, tokenProfile: string | undefined): string {
  const hash = createHash('sha256')
    .update(`${tokenProfile ?? ''}\n${key}`)
    .digest('hex')
    .slice(0, 12);
  return `actionwatch:${hash}`;
}

/** Words for logs and errors: `create of droplet web-1 in nyc3`, `create of droplets web-1, web-2 in nyc3`. */
export function describeCreate(spec: CreateSpec): string {
  const plural = spec.names.length === 1 ? 'droplet' : 'droplets';
  return `create of ${plural} ${spec.names.join(', ')} in ${spec.body.region}`;
}
