#!/usr/bin/env node
// Refreshes test/fixtures/digitalocean/ from DigitalOcean's official OpenAPI description (and,
// optionally, the seed documents), so the tests need nothing outside the repository:
//
//   node scripts/refresh-digitalocean-fixtures.mjs --spec path/to/bundled.yaml [--seeds dir] [--source SOURCE.txt]
//
// openapi.yaml keeps the operations actionwatch calls and the simulator serves, verbatim, with every component they
// reference (and what those reference in turn): a valid OpenAPI document Prism can serve.
// seeds.json holds the JSON bodies found in each seed file. SOURCE.txt says where the spec came
// from (default: the SOURCE.txt beside the spec).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';

/** Every path actionwatch's DigitalOcean client calls (src/digitalocean/client.ts). */
const USED_PATHS = [
  '/v2/actions',
  '/v2/actions/{action_id}',
  '/v2/droplets/{droplet_id}/actions',
  '/v2/droplets/{droplet_id}/actions/{action_id}',
  '/v2/droplets/{droplet_id}/snapshots',
  '/v2/images/{image_id}',
  '/v2/images/{image_id}/actions',
  '/v2/images/{image_id}/actions/{action_id}',
];

/**
 * The paths the simulator serves beyond those (src/simulator/api-routes.ts), so its contract
 * test can check every answer it gives against the spec.
 */
const SIMULATED_PATHS = [
  '/v2/droplets',
  '/v2/droplets/{droplet_id}',
  '/v2/floating_ips',
  '/v2/floating_ips/{floating_ip}',
  '/v2/floating_ips/{floating_ip}/actions',
  '/v2/floating_ips/{floating_ip}/actions/{action_id}',
  '/v2/nfs',
  '/v2/nfs/{nfs_id}',
  '/v2/nfs/{nfs_id}/actions',
  '/v2/reserved_ips',
  '/v2/reserved_ips/{reserved_ip}',
  '/v2/reserved_ips/{reserved_ip}/actions',
  '/v2/reserved_ips/{reserved_ip}/actions/{action_id}',
  '/v2/reserved_ipv6',
  '/v2/reserved_ipv6/{reserved_ipv6}',
  '/v2/reserved_ipv6/{reserved_ipv6}/actions',
  '/v2/volumes',
  '/v2/volumes/actions',
  '/v2/volumes/{volume_id}',
  '/v2/volumes/{volume_id}/actions',
  '/v2/volumes/{volume_id}/actions/{action_id}',
];

/** Everything the fixtures keep, sorted and without repeats. */
const KEPT_PATHS = [...new Set([...USED_PATHS, ...SIMULATED_PATHS])].sort();

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'digitalocean');

function fail(message) {
  console.error(`refresh-digitalocean-fixtures: ${message}`);
  process.exit(1);
}

/** `#/components/schemas/action` → ['schemas', 'action']; anything else is refused. */
function componentOf(ref) {
  const match = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref);
  if (match === null) throw new Error(`unsupported $ref ${ref}: only #/components/<kind>/<name> is handled`);
  return [match[1], match[2].replaceAll('~1', '/').replaceAll('~0', '~')];
}

function refsIn(value, found = []) {
  if (Array.isArray(value)) for (const item of value) refsIn(item, found);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') found.push(inner);
      else refsIn(inner, found);
    }
  }
  return found;
}

function securitySchemesIn(value) {
  return (value ?? []).flatMap((requirement) => Object.keys(requirement));
}

/** The part of a bundled OpenAPI document that serves `paths`, with the closure of its $refs. */
function subsetOf(spec, paths = KEPT_PATHS) {
  const kept = {};
  for (const path of paths) {
    if (spec.paths?.[path] === undefined) throw new Error(`the spec has no path ${path}`);
    kept[path] = spec.paths[path];
  }
  const components = {};
  const pending = refsIn(kept);
  while (pending.length > 0) {
    const [kind, name] = componentOf(pending.pop());
    if (components[kind]?.[name] !== undefined) continue;
    const component = spec.components?.[kind]?.[name];
    if (component === undefined)
      throw new Error(`the spec references #/components/${kind}/${name} but has none`);
    components[kind] ??= {};
    components[kind][name] = component;
    pending.push(...refsIn(component));
  }
  const operations = Object.values(kept).flatMap((item) => Object.values(item));
  const schemes = new Set([
    ...securitySchemesIn(spec.security),
    ...operations.flatMap((operation) => securitySchemesIn(operation.security)),
  ]);
  components.securitySchemes = Object.fromEntries(
    [...schemes].sort().map((name) => [name, spec.components?.securitySchemes?.[name]]),
  );
  const tags = new Set(operations.flatMap((operation) => operation.tags ?? []));
  const sorted = Object.fromEntries(
    Object.keys(components)
      .sort()
      .map((kind) => [
        kind,
        Object.fromEntries(Object.entries(components[kind]).sort(([a], [b]) => (a < b ? -1 : 1))),
      ]),
  );
  return {
    openapi: spec.openapi,
    info: spec.info,
    servers: spec.servers,
    security: spec.security,
    tags: (spec.tags ?? []).filter((tag) => tags.has(tag.name)),
    paths: kept,
    components: sorted,
  };
}

/** Every top-level JSON object in a text (one that starts a line), in order. */
function jsonObjectsIn(text) {
  const found = [];
  let index = 0;
  while (index < text.length) {
    const start = text.indexOf('{', index);
    if (start === -1) break;
    if (start > 0 && text[start - 1] !== '\n') {
      index = start + 1;
      continue;
    }
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let i = start; i < text.length && end === -1; i++) {
      const char = text[i];
      if (inString) {
        if (char === '\\') i++;
        else if (char === '"') inString = false;
      } else if (char === '"') inString = true;
      else if (char === '{') depth++;
      else if (char === '}' && --depth === 0) end = i;
    }
    if (end === -1) break;
    found.push(JSON.parse(text.slice(start, end + 1)));
    index = end + 1;
  }
  return found;
}

function main() {
  const { values } = parseArgs({
    options: {
      spec: { type: 'string' },
      seeds: { type: 'string' },
      source: { type: 'string' },
      out: { type: 'string', default: FIXTURES },
    },
  });
  if (values.spec === undefined) {
    fail(
      'usage: refresh-digitalocean-fixtures.mjs --spec bundled.yaml [--seeds dir] [--source SOURCE.txt] [--out dir]',
    );
  }
  if (!existsSync(values.spec)) fail(`no spec at ${values.spec}`);
  const sourcePath = values.source ?? join(dirname(values.spec), 'SOURCE.txt');
  if (!existsSync(sourcePath)) fail(`no ${sourcePath}: say where the spec came from with --source`);
  mkdirSync(values.out, { recursive: true });

  const spec = parse(readFileSync(values.spec, 'utf8'), { maxAliasCount: -1 });
  const subset = stringify(subsetOf(spec), { aliasDuplicateObjects: false, lineWidth: 0 });
  const source = readFileSync(sourcePath, 'utf8').trim();
  writeFileSync(
    join(values.out, 'openapi.yaml'),
    `# The operations actionwatch calls and its simulator serves, copied from ${basename(values.spec)} of\n# ${source}\n` +
      '# Generated by scripts/refresh-digitalocean-fixtures.mjs: do not edit.\n' +
      subset,
  );
  writeFileSync(join(values.out, 'SOURCE.txt'), `${source}\n`);
  console.log(`wrote ${join(values.out, 'openapi.yaml')} (${KEPT_PATHS.length} paths)`);

  if (values.seeds !== undefined) {
    if (!existsSync(values.seeds)) fail(`no seeds directory at ${values.seeds}`);
    const files = readdirSync(values.seeds)
      .filter((file) => file.endsWith('.txt'))
      .sort();
    const seeds = Object.fromEntries(
      files.map((file) => [file, jsonObjectsIn(readFileSync(join(values.seeds, file), 'utf8'))]),
    );
    writeFileSync(join(values.out, 'seeds.json'), `${JSON.stringify(seeds, null, 2)}\n`);
    console.log(`wrote ${join(values.out, 'seeds.json')} (${files.length} seeds)`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}
