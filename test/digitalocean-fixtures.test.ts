import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  CLIENT_OPERATIONS,
  dereferencedSpec,
  OPENAPI_SPEC_PATH,
  readFixture,
  SIMULATOR_OPERATIONS,
  seedBodies,
} from './support/digitalocean-fixtures.js';
import { TempDir } from './support/temp-dir.js';

/**
 * The copies of DigitalOcean's documents the contract tests use live in the repository, so a
 * clone tests itself anywhere; scripts/refresh-digitalocean-fixtures.mjs makes them from a spec.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'refresh-digitalocean-fixtures.mjs');
/** The paths of the operations the client calls and the simulator serves: what the script keeps. */
const USED_PATHS = [
  ...new Set(
    [...CLIENT_OPERATIONS, ...SIMULATOR_OPERATIONS].map((operation) => operation.split(' ')[1] as string),
  ),
].sort();

const temp = new TempDir('actionwatch-fixtures');
afterAll(() => temp.remove());

const run = promisify(execFile);
async function refresh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [SCRIPT, ...args]).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

/** A bundled spec in miniature: the used paths, one path we do not call, chained $refs. */
function miniatureSpec(): Record<string, unknown> {
  const operation = (response: string) => ({
    get: { tags: ['Actions'], responses: { '200': { $ref: `#/components/responses/${response}` } } },
  });
  return {
    openapi: '3.0.0',
    info: { title: 'mini', version: '1' },
    security: [{ bearer_auth: [] }],
    tags: [{ name: 'Actions' }, { name: 'Apps' }],
    paths: {
      ...Object.fromEntries(USED_PATHS.map((path) => [path, operation('action')])),
      '/v2/apps': { get: { tags: ['Apps'], responses: { '200': { $ref: '#/components/responses/apps' } } } },
    },
    components: {
      securitySchemes: { bearer_auth: { type: 'http', scheme: 'bearer' }, other_auth: { type: 'http' } },
      responses: {
        action: { content: { 'application/json': { schema: { $ref: '#/components/schemas/action' } } } },
        apps: { content: { 'application/json': { schema: { $ref: '#/components/schemas/app' } } } },
      },
      schemas: {
        action: { properties: { region: { $ref: '#/components/schemas/region' } } },
        region: { properties: { slug: { type: 'string' } } },
        app: { type: 'object' },
      },
    },
  };
}

describe('scripts/refresh-digitalocean-fixtures.mjs', () => {
  it('keeps the paths we call and exactly the components they reach, and copies seed bodies', async () => {
    const spec = temp.file(stringify(miniatureSpec()), 'bundled.yaml');
    temp.file('source: github.com/digitalocean/openapi @ 0123abc\n', 'SOURCE.txt');
    const seeds = join(temp.path, 'seeds');
    const out = join(temp.path, 'out');

    const refused = await refresh(['--spec', spec, '--seeds', seeds, '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`no seeds directory at ${seeds}`);

    mkdirSync(seeds);
    temp.file(
      'Example:\n{"action": {"id": 1}}\ntext {"not": "a body"}\n{"id": "not_found"}\n',
      'seeds/000_a.txt',
    );
    const result = await refresh(['--spec', spec, '--seeds', seeds, '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const subset = parse(readFileSync(join(out, 'openapi.yaml'), 'utf8'));
    expect(Object.keys(subset.paths)).toEqual(USED_PATHS);
    expect(subset.components).toEqual({
      responses: { action: expect.any(Object) },
      schemas: { action: expect.any(Object), region: { properties: { slug: { type: 'string' } } } },
      securitySchemes: { bearer_auth: { type: 'http', scheme: 'bearer' } },
    });
    expect(subset.tags).toEqual([{ name: 'Actions' }]);
    expect(readFileSync(join(out, 'openapi.yaml'), 'utf8')).toContain('0123abc');
    expect(readFileSync(join(out, 'SOURCE.txt'), 'utf8')).toBe(
      'source: github.com/digitalocean/openapi @ 0123abc\n',
    );
    expect(JSON.parse(readFileSync(join(out, 'seeds.json'), 'utf8'))).toEqual({
      '000_a.txt': [{ action: { id: 1 } }, { id: 'not_found' }],
    });
  });

  it('fails, naming what is wrong, on a spec without a path we call or with a dangling $ref', async () => {
    const source = temp.file('source: test\n', 'SOURCE.txt');
    const refreshFrom = (spec: object, name: string) =>
      refresh([
        '--spec',
        temp.file(stringify(spec), `${name}.yaml`),
        '--source',
        source,
        '--out',
        join(temp.path, name),
      ]);

    const withoutPath = miniatureSpec() as { paths: Record<string, unknown> };
    delete withoutPath.paths['/v2/images/{image_id}'];
    const missing = await refreshFrom(withoutPath, 'no-path');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('the spec has no path /v2/images/{image_id}');

    const dangling = miniatureSpec() as { components: { schemas: Record<string, unknown> } };
    delete dangling.components.schemas.region;
    const broken = await refreshFrom(dangling, 'dangling');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('#/components/schemas/region');

    const usage = await refresh([]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('--spec');
  });
});

describe('the vendored fixtures', () => {
  it('hold every path we call, each $ref resolvable, and name the commit they came from', async () => {
    const raw = parse(readFileSync(OPENAPI_SPEC_PATH, 'utf8')) as { paths: Record<string, unknown> };
    expect(Object.keys(raw.paths)).toEqual(USED_PATHS);
    const resolved = await dereferencedSpec<{ paths: Record<string, unknown> }>();
    expect(JSON.stringify(resolved.paths)).not.toContain('"$ref"');
    const source = readFixture(join(ROOT, 'test', 'fixtures', 'digitalocean', 'SOURCE.txt'));
    expect(source).toMatch(/github\.com\/digitalocean\/openapi @ [0-9a-f]{40}/);
    expect(Object.keys(seedBodies()).length).toBeGreaterThan(0);
  });

  it('a missing fixture is an error that says how to get it back, not a skip', () => {
    expect(() => readFixture(join(temp.path, 'nowhere.yaml'))).toThrow(
      /nowhere\.yaml is missing.*refresh-digitalocean-fixtures\.mjs/,
    );
  });

  it('no test reads a file outside the repository', () => {
    const sources = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
      .filter((file) => /\.(ts|mjs|js)$/.test(file) && file !== 'digitalocean-fixtures.test.ts')
      .map((file) => [file, readFileSync(join(ROOT, 'test', file), 'utf8')] as const);
    expect(sources.length).toBeGreaterThan(10);
    const outside = /['"`](?:\/(?:work|home|Users|mnt|srv|opt)\/|(?:\.\.\/)+shared\b)/;
    expect(sources.filter(([, text]) => outside.test(text)).map(([file]) => file)).toEqual([]);
  });
});
