import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Simulator } from '../src/simulator/simulator.js';
import { dereferencedSpec } from './support/digitalocean-fixtures.js';

/**
 * The simulator's real HTTP responses, checked against DigitalOcean's own OpenAPI document:
 * for each request, the operation is looked up from the spec's path templates, the response
 * object from the status (or `default`), and the body is validated against that response's
 * schema; every header the response lists must be present and match its schema.
 */

const TOKEN = 'contract-token';
const T0 = Date.UTC(2025, 2, 3, 9, 30, 0);

type SchemaObject = Record<string, unknown>;
interface ResponseObject {
  headers?: Record<string, { schema?: SchemaObject }>;
  content?: Record<string, { schema?: SchemaObject }>;
}
interface Operation {
  responses: Record<string, ResponseObject>;
}
interface Route {
  template: string;
  pattern: RegExp;
  params: number;
  operations: Record<string, Operation>;
}

const addFormats = formats.default;

/** OpenAPI 3.0 `nullable` → JSON Schema; everything else Ajv takes (or ignores) as is. */
function toJsonSchema(schema: unknown, seen = new Map<object, unknown>()): unknown {
  if (Array.isArray(schema)) return schema.map((item) => toJsonSchema(item, seen));
  if (typeof schema !== 'object' || schema === null) return schema;
  const cached = seen.get(schema);
  if (cached !== undefined) return cached;
  const out: SchemaObject = {};
  seen.set(schema, out);
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'nullable' || key === 'example' || key === 'examples') continue;
    out[key] = toJsonSchema(value, seen);
  }
  if ((schema as SchemaObject).nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}

let routes: Route[] = [];
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
for (const format of ['float', 'double', 'int32', 'int64']) ajv.addFormat(format, true);
const compiled = new Map<object, ValidateFunction>();

function validatorFor(schema: SchemaObject): ValidateFunction {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(toJsonSchema(schema) as SchemaObject);
    compiled.set(schema, validate);
  }
  return validate;
}

function routeFor(path: string): Route | undefined {
  // The most literal template wins (e.g. /v2/images/{image_id}/actions over a deeper match).
  return routes.filter((route) => route.pattern.test(path)).sort((a, b) => a.params - b.params)[0];
}

let sim: Simulator;
const clock = { t: T0 };
const checked = new Set<string>();

async function expectConforms(
  method: string,
  path: string,
  expectedStatus: number,
  body?: unknown,
): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${sim.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${path.startsWith('/v2/') && expectedStatus === 401 ? 'revoked' : TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const where = `${method} ${path} → ${response.status}`;
  expect(response.status, `${where}: ${text}`).toBe(expectedStatus);

  const route = routeFor(path.split('?')[0] as string);
  expect(route, `${where}: no path in the spec matches`).toBeDefined();
  const operation = route?.operations[method.toLowerCase()];
  expect(operation, `${where}: the spec has no ${method} for ${route?.template}`).toBeDefined();
  const responses = operation?.responses ?? {};
  const declared = responses[String(response.status)];
  // Successes must be spelled out; errors may fall back on the operation's `default`.
  if (response.status < 400) expect(declared, `${where}: status not in the spec`).toBeDefined();
  const spec = declared ?? responses.default;
  expect(spec, `${where}: neither this status nor default is in the spec`).toBeDefined();

  for (const [name, header] of Object.entries(spec?.headers ?? {})) {
    const value = response.headers.get(name);
    expect(value, `${where}: header ${name} missing`).not.toBeNull();
    if (header.schema !== undefined) {
      const typed =
        header.schema.type === 'integer' || header.schema.type === 'number' ? Number(value) : value;
      const validate = validatorFor(header.schema);
      expect(validate(typed), `${where}: header ${name}=${value} ${ajv.errorsText(validate.errors)}`).toBe(
        true,
      );
    }
  }

  if (response.status === 204) {
    // No content: the spec gives headers only, and the body must be empty.
    expect(spec?.content, `${where}: the spec promises a body`).toBeUndefined();
    expect(text).toBe('');
    checked.add(`${method} ${route?.template} ${response.status}`);
    return undefined;
  }

  const schema = spec?.content?.['application/json']?.schema;
  expect(schema, `${where}: the spec gives no JSON schema`).toBeDefined();
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const json: unknown = JSON.parse(text);
  const validate = validatorFor(schema as SchemaObject);
  expect(validate(json), `${where}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`).toBe(true);
  checked.add(`${method} ${route?.template} ${response.status}`);
  return json as Record<string, unknown>;
}

beforeAll(async () => {
  const document = await dereferencedSpec<{ paths: Record<string, Record<string, Operation>> }>();
  routes = Object.entries(document.paths).map(([template, operations]) => {
    const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
    return {
      template,
      pattern: new RegExp(`^${source}$`),
      params: (template.match(/\{/g) ?? []).length,
      operations,
    };
  });
  sim = await Simulator.start({
    tokens: [TOKEN],
    now: () => clock.t,
    rateLimit: { perMinute: 1000, perHour: 5000 },
    durationsByType: { snapshot: 60_000 },
    defaultDurationMs: 60_000,
  });
}, 30_000);

afterAll(async () => {
  await sim?.close();
});

describe('simulator responses conform to the DigitalOcean OpenAPI document', () => {
  it('serves every action route, success and error, in the documented shapes', async () => {
    // A history: some actions ended (one errored), some running, a snapshot that completed.
    const done = sim.createAction({
      kind: 'droplet',
      resourceId: 301,
      type: 'power_cycle',
      durationMs: 5000,
    });
    sim.createAction({
      kind: 'droplet',
      resourceId: 301,
      type: 'resize',
      durationMs: 5000,
      result: 'errored',
    });
    const transfer = sim.createAction({ kind: 'image', resourceId: 401, type: 'transfer', region: 'ams3' });
    for (let i = 0; i < 4; i++) sim.createAction({ kind: 'droplet', resourceId: 302 });
    const posted = await expectConforms('POST', '/v2/droplets/303/actions', 201, {
      type: 'snapshot',
      name: 'nightly',
    });
    clock.t += 60_000;

    await expectConforms('GET', '/v2/actions', 200);
    await expectConforms('GET', '/v2/actions?page=2&per_page=2', 200);
    await expectConforms('GET', `/v2/actions/${done.id}`, 200);
    const snapshotAction = posted?.action as { id: number } | undefined;
    await expectConforms('GET', `/v2/actions/${snapshotAction?.id}`, 200);
    await expectConforms('GET', '/v2/actions/987654321', 404);

    const list = await expectConforms('GET', '/v2/droplets/302/actions?per_page=3', 200);
    expect(list?.links).toHaveProperty('pages.next');
    await expectConforms('GET', '/v2/droplets/301/actions', 200);
    await expectConforms('GET', `/v2/droplets/301/actions/${done.id}`, 200);
    await expectConforms('GET', `/v2/droplets/302/actions/${done.id}`, 404);
    await expectConforms('GET', '/v2/droplets/999/actions', 404);
    await expectConforms('POST', '/v2/droplets/301/actions', 201, { type: 'rename', name: 'web-01' });
    await expectConforms('POST', '/v2/droplets/301/actions', 422, { type: 'reboot' });
    await expectConforms('POST', '/v2/droplets/304/actions', 422, { type: 'fly' });

    await expectConforms('GET', '/v2/images/401/actions', 200);
    await expectConforms('GET', `/v2/images/401/actions/${transfer.id}`, 200);
    await expectConforms('GET', `/v2/images/401/actions/${done.id}`, 404);
    await expectConforms('GET', '/v2/images/999/actions', 404);
    await expectConforms('POST', '/v2/images/402/actions', 201, { type: 'transfer', region: 'sgp1' });
    await expectConforms('POST', '/v2/images/403/actions', 201, { type: 'convert' });
    await expectConforms('POST', '/v2/images/403/actions', 422, { type: 'transfer' });

    const snapshots = await expectConforms('GET', '/v2/droplets/303/snapshots', 200);
    const [snapshot] = (snapshots?.snapshots ?? []) as Array<{ id: number }>;
    expect(snapshot).toBeDefined();
    await expectConforms('GET', `/v2/images/${snapshot?.id}`, 200);
    await expectConforms('GET', '/v2/images/401', 200);
    await expectConforms('GET', '/v2/images/999', 404);
    await expectConforms('GET', '/v2/droplets/999/snapshots', 404);

    await expectConforms('GET', '/v2/actions?page=0', 400);
  });

  it('sends documented 401, 404, 429 and 500 answers on every route', async () => {
    sim.createAction({ kind: 'droplet', resourceId: 501 });
    const action = sim.createAction({ kind: 'image', resourceId: 502 });
    sim.deleteResource('droplet', 501);
    const routesToCheck: Array<[string, string, unknown?]> = [
      ['GET', '/v2/actions'],
      ['GET', `/v2/actions/${action.id}`],
      ['GET', '/v2/droplets/301/actions'],
      ['GET', `/v2/droplets/301/actions/${action.id}`],
      ['POST', '/v2/droplets/305/actions', { type: 'reboot' }],
      ['GET', '/v2/images/502/actions'],
      ['GET', `/v2/images/502/actions/${action.id}`],
      ['POST', '/v2/images/502/actions', { type: 'convert' }],
      ['GET', '/v2/images/502'],
      ['GET', '/v2/droplets/301/snapshots'],
    ];
    for (const [method, path, body] of routesToCheck) {
      await expectConforms(method, path, 401, body);
      sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 3 });
      await expectConforms(method, path, 429, body);
      sim.injectFault({ kind: 'status', status: 500 });
      await expectConforms(method, path, 500, body);
    }
    await expectConforms('POST', '/v2/droplets/501/actions', 404, { type: 'reboot' });
    await expectConforms('GET', '/v2/droplets/501/actions', 404);
  });

  it('serves the deploy routes (droplets, volumes, reserved and floating IPs, NFS) in the documented shapes', async () => {
    const size = 's-1vcpu-1gb';
    const image = 'ubuntu-24-04-x64';
    const single = await expectConforms('POST', '/v2/droplets', 202, {
      name: 'web-1',
      region: 'ams3',
      size,
      image,
    });
    const droplet = single?.droplet as { id: number; status: string; networks: { v4: unknown[] } };
    const [create] =
      (single?.links as { actions: Array<{ id: number; rel: string; href: string }> } | undefined)?.actions ??
      [];
    expect(droplet).toMatchObject({ status: 'new', networks: { v4: [] } });
    expect(create).toMatchObject({ rel: 'create', href: `${sim.url}/v2/actions/${create?.id}` });
    const multiple = await expectConforms('POST', '/v2/droplets', 202, {
      names: ['web-2', 'web-3'],
      size,
      image,
    });
    expect(multiple?.droplets).toHaveLength(2);
    expect(multiple?.links).toHaveProperty('actions.length', 2);
    await expectConforms('POST', '/v2/droplets', 422, { name: 'web-4', image });
    await expectConforms('GET', `/v2/droplets/${droplet.id}`, 200);
    const tagged = await expectConforms('POST', '/v2/droplets', 202, {
      name: 'web-5',
      size,
      image,
      tags: ['blue'],
    });
    const listed = await expectConforms('GET', '/v2/droplets?tag_name=blue&per_page=200', 200);
    const listedIds = (listed?.droplets as Array<{ id: number }> | undefined)?.map((entry) => entry.id);
    expect(listedIds).toEqual([(tagged?.droplet as { id: number } | undefined)?.id]);
    await expectConforms('GET', '/v2/droplets', 200);
    await expectConforms('GET', `/v2/actions/${create?.id}`, 200);
    await expectConforms('POST', `/v2/droplets/${droplet.id}/actions`, 422, { type: 'reboot' });

    const volume = (
      await expectConforms('POST', '/v2/volumes', 201, {
        name: 'data',
        size_gigabytes: 10,
        region: 'ams3',
        filesystem_type: 'ext4',
      })
    )?.volume as { id: string };
    await expectConforms('POST', '/v2/volumes', 422, { name: 'data', region: 'ams3' });
    await expectConforms('GET', `/v2/volumes/${volume.id}`, 200);
    const attach = (
      await expectConforms('POST', `/v2/volumes/${volume.id}/actions`, 202, {
        type: 'attach',
        droplet_id: droplet.id,
      })
    )?.action as { id: number };
    await expectConforms('POST', `/v2/volumes/${volume.id}/actions`, 422, { type: 'attach' });

    const reserved = (await expectConforms('POST', '/v2/reserved_ips', 202, { region: 'ams3' }))
      ?.reserved_ip as { ip: string };
    const assigning = await expectConforms('POST', '/v2/reserved_ips', 202, { droplet_id: droplet.id });
    expect(assigning?.links).toHaveProperty('actions.0.rel', 'assign_ip');
    const assign = (
      await expectConforms('POST', `/v2/reserved_ips/${reserved.ip}/actions`, 201, {
        type: 'assign',
        droplet_id: droplet.id,
      })
    )?.action as { id: number };
    await expectConforms('POST', `/v2/reserved_ips/${reserved.ip}/actions`, 422, { type: 'assign' });
    const floating = (await expectConforms('POST', '/v2/floating_ips', 202, { region: 'ams3' }))
      ?.floating_ip as { ip: string };
    await expectConforms('POST', '/v2/floating_ips', 202, { droplet_id: droplet.id });
    const floatingAssign = (
      await expectConforms('POST', `/v2/floating_ips/${floating.ip}/actions`, 201, {
        type: 'assign',
        droplet_id: droplet.id,
      })
    )?.action as { id: number };
    const ipv6 = (await expectConforms('POST', '/v2/reserved_ipv6', 201, { region_slug: 'ams3' }))
      ?.reserved_ipv6 as { ip: string };
    const ipv6Assign = (
      await expectConforms('POST', `/v2/reserved_ipv6/${ipv6.ip}/actions`, 201, {
        type: 'assign',
        droplet_id: droplet.id,
      })
    )?.action as { id: number };

    const share = (
      await expectConforms('POST', '/v2/nfs', 201, {
        name: 'shared',
        size_gib: 50,
        region: 'ams3',
        vpc_ids: ['796c6fe3-2a1d-4da2-9f3e-38239827dc91'],
      })
    )?.share as { id: string };
    await expectConforms('POST', '/v2/nfs', 422, { name: 'shared', region: 'ams3' });
    await expectConforms('GET', `/v2/nfs/${share.id}`, 200);
    const resize = (
      await expectConforms('POST', `/v2/nfs/${share.id}/actions`, 201, {
        type: 'resize',
        params: { size_gib: 100 },
      })
    )?.action as { id: string };
    await expectConforms('POST', `/v2/nfs/${share.id}/actions`, 422, { type: 'resize' });

    // While running, then after everything has ended.
    await expectConforms('GET', '/v2/actions?per_page=200', 200);
    clock.t += 60_000;
    const active = await expectConforms('GET', `/v2/droplets/${droplet.id}`, 200);
    expect(active?.droplet).toMatchObject({ status: 'active', volume_ids: [volume.id] });
    await expectConforms('GET', '/v2/actions?per_page=200', 200);
    await expectConforms('GET', `/v2/actions/${create?.id}`, 200);
    await expectConforms('POST', `/v2/droplets/${droplet.id}/actions`, 201, { type: 'reboot' });

    await expectConforms('GET', `/v2/volumes/${volume.id}`, 200);
    await expectConforms('GET', `/v2/volumes/${volume.id}/actions`, 200);
    await expectConforms('GET', `/v2/volumes/${volume.id}/actions/${attach.id}`, 200);
    await expectConforms('GET', `/v2/volumes/${volume.id}/actions/${assign.id}`, 404);
    await expectConforms('GET', `/v2/actions/${attach.id}`, 200);
    await expectConforms('POST', '/v2/volumes/actions', 202, {
      type: 'detach',
      volume_name: 'data',
      region: 'ams3',
      droplet_id: droplet.id,
    });
    await expectConforms('POST', '/v2/volumes/actions', 404, {
      type: 'detach',
      volume_name: 'nothing-by-that-name',
      droplet_id: droplet.id,
    });
    await expectConforms('POST', `/v2/volumes/${volume.id}/actions`, 202, {
      type: 'resize',
      size_gigabytes: 20,
    });
    await expectConforms('GET', '/v2/volumes/506f78a4-e098-11e5-ad9f-ffffffffffff', 404);

    const assigned = await expectConforms('GET', `/v2/reserved_ips/${reserved.ip}`, 200);
    expect(assigned?.reserved_ip).toHaveProperty('droplet.id', droplet.id);
    await expectConforms('GET', `/v2/reserved_ips/${reserved.ip}/actions`, 200);
    await expectConforms('GET', `/v2/reserved_ips/${reserved.ip}/actions/${assign.id}`, 200);
    await expectConforms('GET', `/v2/actions/${assign.id}`, 200);
    await expectConforms('POST', `/v2/reserved_ips/${reserved.ip}/actions`, 201, { type: 'unassign' });
    await expectConforms('GET', '/v2/reserved_ips/192.0.2.1', 404);
    await expectConforms('GET', `/v2/floating_ips/${floating.ip}`, 200);
    await expectConforms('GET', `/v2/floating_ips/${floating.ip}/actions`, 200);
    await expectConforms('GET', `/v2/floating_ips/${floating.ip}/actions/${floatingAssign.id}`, 200);
    await expectConforms('GET', `/v2/actions/${floatingAssign.id}`, 200);
    await expectConforms('GET', `/v2/reserved_ipv6/${ipv6.ip}`, 200);
    await expectConforms('GET', `/v2/actions/${ipv6Assign.id}`, 200);
    await expectConforms('GET', `/v2/nfs/${share.id}`, 200);
    await expectConforms('GET', `/v2/actions/${resize.id}`, 200);

    await expectConforms('DELETE', `/v2/droplets/${droplet.id}`, 204);
    await expectConforms('GET', `/v2/droplets/${droplet.id}`, 404);
    await expectConforms('DELETE', `/v2/droplets/${droplet.id}`, 404);
    await expectConforms('DELETE', `/v2/volumes/${volume.id}`, 204);
    await expectConforms('GET', `/v2/volumes/${volume.id}`, 404);
    await expectConforms('DELETE', `/v2/reserved_ips/${reserved.ip}`, 204);
    await expectConforms('GET', `/v2/reserved_ips/${reserved.ip}`, 404);
    await expectConforms('DELETE', `/v2/floating_ips/${floating.ip}`, 204);
    await expectConforms('DELETE', `/v2/reserved_ipv6/${ipv6.ip}`, 204);
    await expectConforms('GET', `/v2/reserved_ipv6/${ipv6.ip}`, 404);
    await expectConforms('DELETE', `/v2/nfs/${share.id}`, 204);
    await expectConforms('GET', `/v2/nfs/${share.id}`, 404);
  });

  it('sends documented 401, 429 and 500 answers on every deploy route', async () => {
    const volume = sim.createAction({
      kind: 'volume',
      resourceId: '506f78a4-e098-11e5-ad9f-00000000abcd',
    });
    const address = sim.createAction({ kind: 'reserved_ip', resourceId: '203.0.113.7' });
    sim.createAction({ kind: 'reserved_ipv6', resourceId: '2001:db8::7' });
    sim.createAction({ kind: 'nfs', resourceId: '0a1b2c3d-4e5f-4a6b-8c7d-00000000abcd' });
    const volumePath = '/v2/volumes/506f78a4-e098-11e5-ad9f-00000000abcd';
    const routesToCheck: Array<[string, string, unknown?]> = [
      ['POST', '/v2/droplets', { name: 'x', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' }],
      ['GET', '/v2/droplets/301'],
      ['DELETE', '/v2/droplets/302'],
      ['POST', '/v2/volumes', { name: 'v', size_gigabytes: 1, region: 'nyc3' }],
      ['GET', volumePath],
      ['POST', '/v2/volumes/actions', { type: 'attach', volume_name: 'v', droplet_id: 301 }],
      ['GET', `${volumePath}/actions`],
      ['POST', `${volumePath}/actions`, { type: 'resize', size_gigabytes: 20 }],
      ['GET', `${volumePath}/actions/${volume.id}`],
      ['POST', '/v2/reserved_ips', { region: 'nyc3' }],
      ['GET', '/v2/reserved_ips/203.0.113.7'],
      ['GET', '/v2/reserved_ips/203.0.113.7/actions'],
      ['POST', '/v2/reserved_ips/203.0.113.7/actions', { type: 'unassign' }],
      ['GET', `/v2/reserved_ips/203.0.113.7/actions/${address.id}`],
      ['POST', '/v2/floating_ips', { region: 'nyc3' }],
      ['GET', '/v2/floating_ips/203.0.113.7'],
      ['GET', '/v2/floating_ips/203.0.113.7/actions'],
      ['POST', '/v2/floating_ips/203.0.113.7/actions', { type: 'unassign' }],
      ['GET', `/v2/floating_ips/203.0.113.7/actions/${address.id}`],
      ['POST', '/v2/reserved_ipv6', { region_slug: 'nyc3' }],
      ['GET', '/v2/reserved_ipv6/2001:db8::7'],
      ['POST', '/v2/reserved_ipv6/2001:db8::7/actions', { type: 'unassign' }],
      ['POST', '/v2/nfs', { name: 'n', size_gib: 50, region: 'nyc3', vpc_ids: [] }],
      ['GET', '/v2/nfs/0a1b2c3d-4e5f-4a6b-8c7d-00000000abcd'],
      ['POST', '/v2/nfs/0a1b2c3d-4e5f-4a6b-8c7d-00000000abcd/actions', { type: 'reassign' }],
    ];
    for (const [method, path, body] of routesToCheck) {
      await expectConforms(method, path, 401, body);
      sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 3 });
      await expectConforms(method, path, 429, body);
      sim.injectFault({ kind: 'status', status: 500 });
      await expectConforms(method, path, 500, body);
    }
  });

  it('answers 429 from the real limiter in the documented shape', async () => {
    const limited = await Simulator.start({ tokens: [TOKEN], rateLimit: { perMinute: 1, perHour: 10 } });
    const previous = sim;
    sim = limited;
    try {
      await expectConforms('GET', '/v2/actions', 200);
      await expectConforms('GET', '/v2/actions', 429);
    } finally {
      sim = previous;
      await limited.close();
    }
    // Every status of every route above was looked up and validated.
    expect(checked.size).toBeGreaterThanOrEqual(150);
  });
});
