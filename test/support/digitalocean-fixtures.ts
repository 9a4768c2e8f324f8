import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import $RefParser from '@apidevtools/json-schema-ref-parser';
import { parse } from 'yaml';

/**
 * DigitalOcean's own documents, as copied into the repository by
 * scripts/refresh-digitalocean-fixtures.mjs: the operations we call from the official OpenAPI
 * description (test/fixtures/digitalocean/openapi.yaml, source commit in SOURCE.txt beside it) and
 * the JSON bodies of the seed documents (seeds.json). A missing file is an error, never a skip.
 */

/** Every operation the client calls, as the spec names it (the vendored spec holds these paths). */
export const CLIENT_OPERATIONS = [
  'GET /v2/actions',
  'GET /v2/actions/{action_id}',
  'GET /v2/droplets/{droplet_id}/actions',
  'POST /v2/droplets/{droplet_id}/actions',
  'GET /v2/droplets/{droplet_id}/actions/{action_id}',
  'GET /v2/droplets/{droplet_id}/snapshots',
  'GET /v2/images/{image_id}',
  'GET /v2/images/{image_id}/actions',
  'POST /v2/images/{image_id}/actions',
  'GET /v2/images/{image_id}/actions/{action_id}',
  'GET /v2/volumes/{volume_id}/actions',
  'POST /v2/volumes/{volume_id}/actions',
  'GET /v2/reserved_ips/{reserved_ip}/actions',
  'POST /v2/reserved_ips/{reserved_ip}/actions',
  'POST /v2/floating_ips/{floating_ip}/actions',
  'POST /v2/reserved_ipv6/{reserved_ipv6}/actions',
] as const;

/** The operations the simulator serves beyond the client's (the vendored spec holds these paths too). */
export const SIMULATOR_OPERATIONS = [
  'POST /v2/droplets',
  'GET /v2/droplets/{droplet_id}',
  'DELETE /v2/droplets/{droplet_id}',
  'POST /v2/volumes',
  'POST /v2/volumes/actions',
  'GET /v2/volumes/{volume_id}',
  'DELETE /v2/volumes/{volume_id}',
  'GET /v2/volumes/{volume_id}/actions',
  'POST /v2/volumes/{volume_id}/actions',
  'GET /v2/volumes/{volume_id}/actions/{action_id}',
  'POST /v2/reserved_ips',
  'GET /v2/reserved_ips/{reserved_ip}',
  'GET /v2/reserved_ips/{reserved_ip}/actions',
  'POST /v2/reserved_ips/{reserved_ip}/actions',
  'GET /v2/reserved_ips/{reserved_ip}/actions/{action_id}',
  'POST /v2/reserved_ipv6',
  'GET /v2/reserved_ipv6/{reserved_ipv6}',
  'POST /v2/reserved_ipv6/{reserved_ipv6}/actions',
  'POST /v2/floating_ips',
  'GET /v2/floating_ips/{floating_ip}',
  'GET /v2/floating_ips/{floating_ip}/actions',
  'POST /v2/floating_ips/{floating_ip}/actions',
  'GET /v2/floating_ips/{floating_ip}/actions/{action_id}',
  'POST /v2/nfs',
  'GET /v2/nfs/{nfs_id}',
  'POST /v2/nfs/{nfs_id}/actions',
] as const;

const DIRECTORY = fileURLToPath(new URL('../fixtures/digitalocean/', import.meta.url));

/** The vendored OpenAPI document (YAML), for tools that read a file, such as Prism. */
export const OPENAPI_SPEC_PATH = `${DIRECTORY}openapi.yaml`;

/** A fixture's text; throws, saying how to get it back, when it is missing. */
export function readFixture(path: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `test fixture ${path} is missing: restore it from git, or regenerate it with ` +
        '`node scripts/refresh-digitalocean-fixtures.mjs --spec <bundled.yaml> --seeds <dir>`',
    );
  }
  return readFileSync(path, 'utf8');
}

/** The vendored OpenAPI document with every `$ref` resolved in place. */
export async function dereferencedSpec<T>(): Promise<T> {
  const document = parse(readFixture(OPENAPI_SPEC_PATH)) as object;
  return (await $RefParser.dereference(document, { dereference: { circular: 'ignore' } })) as T;
}

/** Each seed document's file name → the JSON bodies it holds, in order. */
export function seedBodies(): Record<string, unknown[]> {
  return JSON.parse(readFixture(`${DIRECTORY}seeds.json`)) as Record<string, unknown[]>;
}
