import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../src/config/secret.js';
import { DigitalOceanClient } from '../src/digitalocean/client.js';
import {
  type Action,
  actionListResponseSchema,
  actionResponseSchema,
  actionSchema,
  errorBodySchema,
  KNOWN_STATUSES,
  regionSchema,
} from '../src/digitalocean/models.js';
import { NotFoundError, TransientError, UnreadableStartError } from '../src/errors/digitalocean-api-error.js';
import { parseDropletCreate } from '../src/runs/droplet-create.js';
import { dereferencedSpec, seedBodies } from './support/digitalocean-fixtures.js';

/**
 * The client against DigitalOcean's own documents rather than our simulator: every 200/201 example
 * of the action endpoints in the official OpenAPI description (or, where an endpoint has none, the
 * example its schema's property examples add up to), every error example, and every JSON body in
 * the seeds, each served over real HTTP by a tiny local server to the client method for that
 * endpoint. What the client sends is checked against the same description.
 */

type Schema = Record<string, unknown> & {
  example?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
};
interface MediaType {
  schema?: Schema;
  example?: unknown;
  examples?: Record<string, { value?: unknown }>;
}
interface ResponseObject {
  headers?: Record<string, { example?: unknown; schema?: Schema }>;
  content?: Record<string, MediaType>;
}
interface Operation {
  parameters?: Array<{ in: string; name: string; schema?: Schema }>;
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, ResponseObject>;
}
type Paths = Record<string, Record<string, Operation>>;

/** Ids the endpoints are called with; the tiny server answers whatever the test queued. */
const DROPLET = 3164444;
const IMAGE = 7938269;
const ACTION = 36804636;

interface Endpoint {
  method: 'get' | 'post';
  template: string;
  /** Which envelope the body has. */
  shape: 'action' | 'actions';
  /** `body` is the answer the call will get: a single-action call asks about its action and resource. */
  call(api: DigitalOceanClient, body: unknown): Promise<Action | { actions: Action[] }>;
}

/** The action an example answer is about, and its resource: what a call must ask to get it. */
function askedAbout(body: unknown): { actionId: number; resourceId: number } {
  const action = (body as { action: { id: number; resource_id: number } }).action;
  return { actionId: action.id, resourceId: action.resource_id };
}

const ENDPOINTS: Endpoint[] = [
  { method: 'get', template: '/v2/actions', shape: 'actions', call: (api) => api.listActions() },
  {
    method: 'get',
    template: '/v2/actions/{action_id}',
    shape: 'action',
    call: (api, body) => api.getAction(askedAbout(body).actionId),
  },
  {
    method: 'get',
    template: '/v2/droplets/{droplet_id}/actions',
    shape: 'actions',
    call: (api) => api.listDropletActions(DROPLET, { page: 2, perPage: 2 }),
  },
  {
    method: 'get',
    template: '/v2/droplets/{droplet_id}/actions/{action_id}',
    shape: 'action',
    call: (api, body) => api.getDropletAction(askedAbout(body).resourceId, askedAbout(body).actionId),
  },
  {
    method: 'post',
    template: '/v2/droplets/{droplet_id}/actions',
    shape: 'action',
    call: (api, body) => api.initiateDropletAction(askedAbout(body).resourceId, { type: 'reboot' }),
  },
  {
    method: 'get',
    template: '/v2/images/{image_id}/actions',
    shape: 'actions',
    call: (api) => api.listImageActions(IMAGE),
  },
  {
    method: 'get',
    template: '/v2/images/{image_id}/actions/{action_id}',
    shape: 'action',
    call: (api, body) => api.getImageAction(askedAbout(body).resourceId, askedAbout(body).actionId),
  },
  {
    method: 'post',
    template: '/v2/images/{image_id}/actions',
    shape: 'action',
    call: (api, body) =>
      api.initiateImageAction(askedAbout(body).resourceId, { type: 'transfer', region: 'nyc3' }),
  },
];

/** The example a schema's own `example`s add up to, for responses the spec gives none for. */
function exampleOf(schema: Schema | undefined): unknown {
  if (schema === undefined) return undefined;
  if (schema.example !== undefined) return schema.example;
  if (schema.allOf !== undefined) {
    return Object.assign({}, ...schema.allOf.map((part) => exampleOf(part) ?? {}));
  }
  const choice = schema.anyOf ?? schema.oneOf;
  if (choice !== undefined) return exampleOf(choice[0]);
  if (schema.properties !== undefined) {
    const entries = Object.entries(schema.properties).map(([key, value]) => [key, exampleOf(value)] as const);
    return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
  }
  if (schema.items !== undefined) {
    const item = exampleOf(schema.items);
    return item === undefined ? [] : [item];
  }
  return undefined;
}

/** The documented examples of one JSON response: `example`, every `examples` value, else synthesized. */
function examplesOf(response: ResponseObject | undefined): Array<{ name: string; body: unknown }> {
  const media = response?.content?.['application/json'];
  if (media === undefined) return [];
  const found: Array<{ name: string; body: unknown }> = [];
  if (media.example !== undefined) found.push({ name: 'example', body: media.example });
  for (const [name, example] of Object.entries(media.examples ?? {})) {
    found.push({ name: `examples.${name}`, body: example.value });
  }
  if (found.length === 0) found.push({ name: 'schema property examples', body: exampleOf(media.schema) });
  return found;
}

// -- A tiny server that answers the queued (status, body, headers) and records each request. --

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

let server: http.Server;
let baseUrl: string;
const seen: Seen[] = [];
let answer: Answer = { status: 500, body: {} };

async function serve(next: Answer): Promise<Seen[]> {
  answer = next;
  seen.length = 0;
  return seen;
}

let paths: Paths;
let rateLimitHeaders: Record<string, string>;
const ajv = new Ajv({ strict: false, allErrors: true });

beforeAll(async () => {
  paths = (await dereferencedSpec<{ paths: Paths }>()).paths;
  // Every documented response carries these three headers; serve their documented examples.
  const headers = paths['/v2/actions/{action_id}']?.get?.responses['200']?.headers ?? {};
  rateLimitHeaders = Object.fromEntries(
    ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'].map((name) => [
      name,
      String(headers[name]?.example ?? headers[name]?.schema?.example),
    ]),
  );

  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(answer.status, {
        'content-type': 'application/json; charset=utf-8',
        ...rateLimitHeaders,
        ...answer.headers,
      });
      res.end(JSON.stringify(answer.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(): DigitalOceanClient {
  return new DigitalOceanClient({ baseUrl, token: new Secret('contract-token'), retries: 0 });
}

function operation(endpoint: Endpoint): Operation {
  const found = paths[endpoint.template]?.[endpoint.method];
  if (found === undefined) throw new Error(`the spec has no ${endpoint.method} ${endpoint.template}`);
  return found;
}

function templatePattern(template: string): RegExp {
  return new RegExp(`^${template.replace(/\{[^}]+\}/g, '[1-9][0-9]*')}$`);
}

/** What the client should hand back for a body: the action itself, or the list's actions. */
function expectedResult(shape: Endpoint['shape'], body: unknown): unknown {
  const envelope = body as { action?: unknown; actions?: unknown };
  return shape === 'action' ? envelope.action : envelope.actions;
}

function resultActions(result: Action | { actions: Action[] }): unknown {
  return 'actions' in result ? result.actions : result;
}

/**
 * The query parameters an operation takes: those it declares, or, where it declares none (the image
 * action listing), those its own example's page links use.
 */
function queryParameters(op: Operation, examples: Array<{ body: unknown }>): string[] {
  const declared = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
  if (declared.length > 0) return declared;
  const linked = examples.flatMap(({ body }) => {
    const pages = (body as { links?: { pages?: Record<string, string> } }).links?.pages ?? {};
    return Object.values(pages).flatMap((link) => [...new URL(link).searchParams.keys()]);
  });
  return [...new Set(linked)];
}

const ERROR_CLASSES: Record<string, [number, string]> = {
  '401': [401, 'UnauthorizedError'],
  '403': [403, 'ForbiddenError'],
  '404': [404, 'NotFoundError'],
  '422': [422, 'ClientError'],
  '429': [429, 'RateLimitedError'],
  '500': [500, 'TransientError'],
  // `default` is "Unexpected error": any status the others do not name.
  default: [418, 'ClientError'],
};

describe('the OpenAPI description of the action endpoints', () => {
  it('documents exactly the fields and statuses the Action model knows', () => {
    const action = paths['/v2/actions/{action_id}']?.get?.responses['200']?.content?.['application/json']
      ?.schema?.properties?.action as Schema;
    expect(Object.keys(action.properties ?? {}).sort()).toEqual(Object.keys(actionSchema.shape).sort());
    const region = action.properties?.region as Schema;
    expect(Object.keys(region.properties ?? {}).sort()).toEqual(Object.keys(regionSchema.shape).sort());
    expect(action.properties?.status?.enum).toEqual([...KNOWN_STATUSES]);
  });

  it.each(ENDPOINTS.map((endpoint) => [`${endpoint.method.toUpperCase()} ${endpoint.template}`, endpoint]))(
    '%s: every success example parses, and comes back from the client as documented',
    async (_name, endpoint) => {
      const op = operation(endpoint);
      const status = endpoint.method === 'post' ? '201' : '200';
      const examples = examplesOf(op.responses[status]);
      expect(examples.length).toBeGreaterThan(0);
      for (const { name, body } of examples) {
        const schema = endpoint.shape === 'action' ? actionResponseSchema : actionListResponseSchema;
        const parsed = schema.safeParse(body);
        expect(parsed.success, `${name}: ${parsed.error?.message}`).toBe(true);
        // Nothing dropped or rewritten on the way through the model.
        expect(parsed.data, name).toEqual(body);
        const documented = [expectedResult(endpoint.shape, body)].flat() as Action[];
        expect(documented.length, name).toBeGreaterThan(0);
        for (const action of documented)
          expect(action).toMatchObject({ id: expect.any(Number), region_slug: expect.any(String) });

        const requests = await serve({ status: Number(status), body });
        const api = client();
        const result = await endpoint.call(api, body);
        expect(resultActions(result), name).toEqual(expectedResult(endpoint.shape, body));
        expect(api.rateLimit).toEqual({ limit: 5000, remaining: 4816, resetAtMs: 1444931833000 });

        expect(requests).toHaveLength(1);
        const [request] = requests;
        const url = new URL(request?.url ?? '', baseUrl);
        expect(request?.method).toBe(endpoint.method.toUpperCase());
        expect(url.pathname).toMatch(templatePattern(endpoint.template));
        for (const [key, value] of url.searchParams) {
          expect(queryParameters(op, examples), `query parameter ${key}`).toContain(key);
          const parameter = op.parameters?.find((p) => p.in === 'query' && p.name === key);
          const validate = ajv.compile(parameter?.schema ?? { type: 'integer', minimum: 1 });
          expect(validate(Number(value)), `${key}=${value}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        }
      }
    },
  );

  it.each(ENDPOINTS.map((endpoint) => [`${endpoint.method.toUpperCase()} ${endpoint.template}`, endpoint]))(
    '%s: every error example is classified, with its id',
    async (_name, endpoint) => {
      const op = operation(endpoint);
      const errorStatuses = Object.keys(op.responses).filter((status) => !/^2/.test(status));
      expect(errorStatuses).toEqual(expect.arrayContaining(['401', '429', '500', 'default']));
      for (const documented of errorStatuses) {
        const classification = ERROR_CLASSES[documented];
        expect(classification, `no expectation for a documented ${documented}`).toBeDefined();
        const [status, className] = classification as [number, string];
        for (const { name, body } of examplesOf(op.responses[documented])) {
          const errorBody = errorBodySchema.parse(body);
          const requests = await serve({ status, body });
          const error = await endpoint.call(client(), { action: { id: ACTION, resource_id: DROPLET } }).then(
            () => undefined,
            (rejection: unknown) => rejection,
          );
          const where = `${documented} ${name}`;
          expect((error as Error | undefined)?.constructor.name, where).toBe(className);
          expect(error, where).toMatchObject({ status, errorId: errorBody.id });
          expect((error as Error).message, where).toContain(errorBody.message);
          expect(requests, where).toHaveLength(1);
        }
      }
    },
  );

  it('the bodies the client sends validate against the documented request bodies', async () => {
    const sends: Array<[string, (api: DigitalOceanClient) => Promise<unknown>]> = [
      ['/v2/images/{image_id}/actions', (api) => api.initiateImageAction(IMAGE, { type: 'convert' })],
      [
        '/v2/images/{image_id}/actions',
        (api) => api.initiateImageAction(IMAGE, { type: 'transfer', region: 'ams3' }),
      ],
      ['/v2/droplets/{droplet_id}/actions', (api) => api.initiateDropletAction(DROPLET, { type: 'reboot' })],
      [
        '/v2/droplets/{droplet_id}/actions',
        (api) => api.initiateDropletAction(DROPLET, { type: 'snapshot', name: 'nightly' }),
      ],
    ];
    for (const [template, send] of sends) {
      // The documented answer, about the resource asked (the client checks that it is).
      const example = examplesOf(paths[template]?.post?.responses['201'])[0]?.body as { action: Action };
      const resourceId = template.startsWith('/v2/images') ? IMAGE : DROPLET;
      const reply = { ...example, action: { ...example.action, resource_id: resourceId } };
      const requests = await serve({ status: 201, body: reply });
      await send(client());
      const schema = paths[template]?.post?.requestBody?.content['application/json']?.schema;
      expect(schema, template).toBeDefined();
      const validate = ajv.compile(schema as Schema);
      const sent: unknown = JSON.parse(requests[0]?.body ?? '');
      expect(validate(sent), `${JSON.stringify(sent)}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(requests[0]?.headers['content-type']).toMatch(/^application\/json/);
    }
  });
});

// -- The seeds: every JSON body in them. --

/** Which status each documented error id is served with. */
const STATUS_OF_ERROR_ID: Record<string, number> = {
  unauthorized: 401,
  not_found: 404,
  too_many_requests: 429,
  server_error: 500,
  example_error: 418,
};

const SEED_ENDPOINTS: Record<
  string,
  (api: DigitalOceanClient, body: unknown) => Promise<Action | { actions: Action[] }>
> = {
  // 000 and 002 are image action listings, 001 a droplet's, 004 a droplet action GET.
  '000': (api) => api.listImageActions(7938269),
  '001': (api) => api.listDropletActions(3164494, { page: 1, perPage: 20 }),
  '002': (api) => api.listImageActions(62137902),
  // The seed's body is about another action than its URL names: ask about the one it answers.
  '004': (api, body) => api.getDropletAction(askedAbout(body).resourceId, askedAbout(body).actionId),
};

describe('the seeds', () => {
  const bodies = Object.entries(seedBodies()).map(([file, objects]) => ({
    file,
    seed: file.slice(0, 3),
    objects,
  }));

  it('are all here, with the JSON bodies they are known to hold', () => {
    expect(
      bodies.map(({ seed, objects }) => [
        seed,
        objects.filter((object) => typeof object === 'object' && object !== null && 'id' in object).length,
        objects.length,
      ]),
    ).toEqual([
      ['000', 5, 6],
      ['001', 5, 6],
      ['002', 0, 2],
      ['003', 0, 0],
      ['004', 5, 6],
    ]);
  });

  it('every action body parses to exactly itself, with no field the model does not name', async () => {
    const knownActionKeys = Object.keys(actionSchema.shape);
    const knownRegionKeys = Object.keys(regionSchema.shape);
    let checked = 0;
    for (const { file, seed, objects } of bodies) {
      for (const body of objects as Array<Record<string, unknown>>) {
        if ('id' in body) continue;
        const single = 'action' in body;
        const parsed = (single ? actionResponseSchema : actionListResponseSchema).safeParse(body);
        expect(parsed.success, `${file}: ${parsed.error?.message}`).toBe(true);
        expect(parsed.data, file).toEqual(body);
        const actions = (single ? [body.action] : body.actions) as Array<Record<string, unknown>>;
        for (const action of actions) {
          expect(knownActionKeys, file).toEqual(expect.arrayContaining(Object.keys(action)));
          expect(knownRegionKeys, file).toEqual(
            expect.arrayContaining(Object.keys(action.region as Record<string, unknown>)),
          );
          expect(KNOWN_STATUSES, file).toContain(action.status);
        }

        const call = SEED_ENDPOINTS[seed];
        expect(call, `${file}: no endpoint for this seed`).toBeDefined();
        await serve({ status: 200, body });
        const result = await (call as NonNullable<typeof call>)(client(), body);
        expect(resultActions(result), file).toEqual(single ? body.action : body.actions);
        checked += 1;
      }
    }
    expect(checked).toBe(5);
  });

  it('every error body is classified with its id', async () => {
    let checked = 0;
    for (const { file, seed, objects } of bodies) {
      for (const body of objects as Array<Record<string, unknown>>) {
        if (!('id' in body)) continue;
        const errorBody = errorBodySchema.parse(body);
        const status = STATUS_OF_ERROR_ID[errorBody.id];
        expect(status, `${file}: an error id the test does not know: ${errorBody.id}`).toBeDefined();
        await serve({ status: status as number, body });
        const error = await (SEED_ENDPOINTS[seed] as NonNullable<(typeof SEED_ENDPOINTS)[string]>)(client(), {
          action: { id: 2432342, resource_id: 3934132 },
        }).then(
          () => undefined,
          (rejection: unknown) => rejection,
        );
        expect(error, file).toMatchObject({ status, errorId: errorBody.id });
        expect((error as Error).message).toContain(errorBody.message);
        checked += 1;
      }
    }
    expect(checked).toBe(15);
  });
});

describe('the droplet endpoints behind run droplet create', () => {
  const createInput = (names: string[]) =>
    parseDropletCreate({
      names,
      region: 'nyc3',
      size: 's-1vcpu-1gb',
      image: 'ubuntu-20-04-x64',
      sshKeys: [289794, '3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45'],
      tags: ['env:prod', 'web'],
      userData: '#cloud-config\nruncmd:\n  - touch /test.txt\n',
    }).body;

  it('POST /v2/droplets: what the client sends is a documented request, and each documented answer comes back paired with its create action', async () => {
    const op = paths['/v2/droplets']?.post as Operation;
    const validate = ajv.compile(op.requestBody?.content['application/json']?.schema as Schema);
    const examples = examplesOf(op.responses['202']);
    expect(examples.map(({ name }) => name)).toEqual([
      'examples.Single Droplet Create Response',
      'examples.Multiple Droplet Create Response',
    ]);
    for (const { name, body } of examples) {
      const answer = body as {
        droplet?: { name: string };
        droplets?: Array<{ name: string }>;
        links: { actions: Array<{ id: number }> };
      };
      const droplets = answer.droplets ?? [answer.droplet as { name: string }];
      const request = createInput(droplets.map((droplet) => droplet.name));
      expect(validate(request), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      const requests = await serve({ status: 202, body });
      const created = await client().createDroplets(request);
      expect(
        created.map(({ droplet, actionId }) => [droplet, actionId]),
        name,
      ).toEqual(droplets.map((droplet, i) => [droplet, answer.links.actions[i]?.id]));
      expect(requests.map((seen) => `${seen.method} ${seen.url}`)).toEqual(['POST /v2/droplets']);
      expect(JSON.parse(requests[0]?.body ?? '')).toEqual(request);
    }
  });

  it('POST /v2/droplets: a 2xx that does not pair droplets with actions is unreadable, not retried', async () => {
    const requests = await serve({ status: 202, body: { droplet: { id: 1, name: 'web-1' }, links: {} } });
    await expect(client().createDroplets(createInput(['web-1']))).rejects.toBeInstanceOf(
      UnreadableStartError,
    );
    expect(requests).toHaveLength(1);
  });

  it('GET /v2/droplets/{id} and GET /v2/droplets?tag_name=…: the documented answers parse', async () => {
    const single = examplesOf(paths['/v2/droplets/{droplet_id}']?.get?.responses['200']);
    for (const { name, body } of single) {
      await serve({ status: 200, body });
      expect(await client().getDroplet(DROPLET), name).toEqual((body as { droplet: unknown }).droplet);
    }
    const listed = examplesOf(paths['/v2/droplets']?.get?.responses['200']);
    expect(listed.length).toBeGreaterThan(0);
    for (const { name, body } of listed) {
      const requests = await serve({ status: 200, body });
      expect(await client().listDropletsByTag('actionwatch:0123456789ab'), name).toEqual(
        (body as { droplets: unknown }).droplets,
      );
      const url = new URL(requests[0]?.url ?? '', baseUrl);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        tag_name: 'actionwatch:0123456789ab',
        per_page: '200',
      });
    }
  });

  it('DELETE /v2/droplets/{id}: a 204 is done, a 404 is NotFoundError, and a 500 is not sent again', async () => {
    let requests = await serve({ status: 204, body: '' });
    await client().deleteDroplet(DROPLET);
    expect(requests.map((seen) => `${seen.method} ${seen.url}`)).toEqual([`DELETE /v2/droplets/${DROPLET}`]);
    await serve({
      status: 404,
      body: { id: 'not_found', message: 'The resource you were accessing could not be found.' },
    });
    await expect(client().deleteDroplet(DROPLET)).rejects.toBeInstanceOf(NotFoundError);
    requests = await serve({ status: 500, body: { id: 'server_error', message: 'Server Error' } });
    const retrying = new DigitalOceanClient({ baseUrl, token: new Secret('contract-token'), retries: 3 });
    await expect(retrying.deleteDroplet(DROPLET)).rejects.toBeInstanceOf(TransientError);
    expect(requests).toHaveLength(1);
  });
});
