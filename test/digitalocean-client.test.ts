import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { Secret } from '../src/config/secret.js';
import { DigitalOceanClient, type DigitalOceanClientOptions } from '../src/digitalocean/client.js';
import { type Action, classifyStatus } from '../src/digitalocean/models.js';
import {
  ClientError,
  NotFoundError,
  PageLinkError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
} from '../src/errors/digitalocean-api-error.js';
import { Runtime } from '../src/runtime.js';
import type { ListOrder } from '../src/simulator/index.js';
import { Simulator } from '../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { LogCapture, REDIS_URL, testPrefix } from './support/stack.js';

/**
 * The DigitalOcean client over real HTTP: every endpoint against the simulator, and what goes on
 * the wire (headers, redirects, paging links, aborts, the token) against tiny local servers that
 * record each request they receive.
 */

const TOKEN = 'dop_v1_client-test-5f1c9a0e7b';
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface TinyServer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

type Handler = (request: SeenRequest, response: http.ServerResponse) => void;

const servers: TinyServer[] = [];

/** A node:http server that records every request and answers with `handler`. */
async function tinyServer(handler: Handler): Promise<TinyServer> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(seen);
      handler(seen, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const tiny: TinyServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(tiny);
  return tiny;
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(JSON.stringify(body));
}

function actionBody(id: number, extra: Partial<Action> = {}): Action {
  return {
    id,
    status: 'in-progress',
    type: 'reboot',
    started_at: '2025-01-06T12:00:00Z',
    completed_at: null,
    resource_id: 7,
    resource_type: 'droplet',
    region: null,
    region_slug: 'nyc3',
    ...extra,
  };
}

function client(baseUrl: string, options: Partial<DigitalOceanClientOptions> = {}): DigitalOceanClient {
  return new DigitalOceanClient({ baseUrl, token: new Secret(TOKEN), ...options });
}

/** The rejection of `promise`; fails the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('every endpoint against the simulator', () => {
  let sim: Simulator;

  beforeAll(async () => {
    sim = await Simulator.start({ tokens: [TOKEN], rateLimit: false });
  });

  afterAll(async () => {
    await sim.close();
  });

  afterEach(() => {
    sim.resetStats();
    sim.clearFaults();
  });

  it('gets an action through /v2/actions/{id}, the droplet and the image endpoints, typed as served', async () => {
    const droplet = sim.createAction({ kind: 'droplet', resourceId: 3164444, durationMs: 60_000 });
    const image = sim.createAction({
      kind: 'image',
      resourceId: 7938269,
      type: 'transfer',
      region: 'sfo3',
      durationMs: 0,
    });
    const api = client(sim.url);

    expect(await api.getAction(droplet.id)).toEqual(sim.getAction(droplet.id));
    expect(await api.getDropletAction(3164444, droplet.id)).toEqual(sim.getAction(droplet.id));
    const transfer = await api.getImageAction(7938269, image.id);
    expect(transfer).toEqual(sim.getAction(image.id));
    expect(transfer).toMatchObject({
      id: image.id,
      status: 'completed',
      type: 'transfer',
      resource_id: 7938269,
      resource_type: 'image',
      region_slug: 'sfo3',
      region: { slug: 'sfo3', available: true },
    });
    expect(typeof transfer.completed_at).toBe('string');
    expect(await api.getResourceAction('droplet', 3164444, droplet.id)).toMatchObject({ id: droplet.id });
    expect(await api.getResourceAction('image', 7938269, image.id)).toMatchObject({ id: image.id });

    // The scoped endpoints really are scoped: an image's action is not a droplet's.
    await expect(api.getDropletAction(7938269, image.id)).rejects.toBeInstanceOf(NotFoundError);

    expect(sim.stats().byRoute).toEqual({
      'GET /v2/actions/:action_id': 1,
      'GET /v2/droplets/:droplet_id/actions/:action_id': 3,
      'GET /v2/images/:image_id/actions/:action_id': 2,
    });
  });

  it('passes an undocumented status through, and it is not terminal', async () => {
    const created = sim.createAction({
      kind: 'droplet',
      resourceId: 41,
      initialStatus: { status: 'new', forMs: 60_000 },
      durationMs: 120_000,
    });
    const action = await client(sim.url).getAction(created.id);
    expect(action.status).toBe('new');
    expect(classifyStatus(action.status)).toBe('unknown');
  });

  it('lists actions with page and per_page, reporting the total and the page links', async () => {
    const ids = Array.from(
      { length: 5 },
      () => sim.createAction({ kind: 'droplet', resourceId: 501, durationMs: 0 }).id,
    );
    const imageIds = Array.from(
      { length: 3 },
      () => sim.createAction({ kind: 'image', resourceId: 601, durationMs: 0 }).id,
    );
    const api = client(sim.url);

    const second = await api.listDropletActions(501, { page: 2, perPage: 2 });
    expect(second.actions.map((action) => action.id)).toEqual(ids.slice(2, 4));
    expect(second).toMatchObject({ total: 5, page: 2, perPage: 2 });
    expect(second.links.next).toBe(`${sim.url}/v2/droplets/501/actions?page=3&per_page=2`);
    expect(second.links.prev).toBe(`${sim.url}/v2/droplets/501/actions?page=1&per_page=2`);
    expect(second.links.last).toBe(`${sim.url}/v2/droplets/501/actions?page=3&per_page=2`);

    const everything = await api.listDropletActions(501);
    expect(everything).toMatchObject({ total: 5, page: 1, perPage: 20, links: {} });
    expect(everything.actions.map((action) => action.id)).toEqual(ids);

    const lastImagePage = await api.listImageActions(601, { page: 2, perPage: 2 });
    expect(lastImagePage.actions.map((action) => action.id)).toEqual(imageIds.slice(2));
    expect(lastImagePage.links.next).toBeUndefined();
    expect(lastImagePage.actions.every((action) => action.resource_type === 'image')).toBe(true);

    const all = await api.listActions({ perPage: 200 });
    expect(all.total).toBe(sim.actionCount);
    expect(all.actions.map((action) => action.id)).toEqual(expect.arrayContaining([...ids, ...imageIds]));

    await expect(api.listDropletActions(999_001)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('initiates image transfer and convert actions', async () => {
    const api = client(sim.url);
    sim.ensureResource('image', 7938269);

    const transfer = await api.initiateImageAction(7938269, { type: 'transfer', region: 'ams3' });
    expect(transfer).toMatchObject({
      status: 'in-progress',
      type: 'transfer',
      resource_id: 7938269,
      resource_type: 'image',
      region_slug: 'ams3',
      completed_at: null,
    });
    expect(sim.getAction(transfer.id)).toEqual(transfer);

    const convert = await api.initiateImageAction(7938269, { type: 'convert' });
    expect(convert).toMatchObject({ type: 'convert', resource_type: 'image' });
    expect(convert.id).toBeGreaterThan(transfer.id);

    const refused = await rejectionOf(
      api.initiateImageAction(7938269, { type: 'transfer', region: 'mars1' }),
    );
    expect(refused).toBeInstanceOf(ClientError);
    expect(refused).toMatchObject({ status: 422, errorId: 'unprocessable_entity', retryable: false });
    expect(sim.stats().byRoute['POST /v2/images/:image_id/actions']).toBe(3);
  });

  it('initiates a droplet action, and a second one while it runs is a 422 pending event, not retried', async () => {
    const api = client(sim.url);
    sim.ensureResource('droplet', 3164494);

    const reboot = await api.initiateDropletAction(3164494, { type: 'reboot' });
    expect(reboot).toMatchObject({ status: 'in-progress', type: 'reboot', resource_type: 'droplet' });
    expect(await api.getDropletAction(3164494, reboot.id)).toEqual(reboot);

    const busy = await rejectionOf(api.initiateDropletAction(3164494, { type: 'power_off' }));
    expect(busy).toBeInstanceOf(ClientError);
    expect(busy).toMatchObject({
      kind: 'client_error',
      status: 422,
      errorId: 'unprocessable_entity',
      method: 'POST',
      path: '/v2/droplets/3164494/actions',
    });
    expect((busy as Error).message).toContain('Droplet already has a pending event.');
    expect(sim.stats().byRoute['POST /v2/droplets/:droplet_id/actions']).toBe(2);
  });

  it.each<ListOrder>(['oldest-first', 'newest-first'])(
    'iterates every action of a resource across pages (%s)',
    async (listOrder) => {
      const ordered = await Simulator.start({ tokens: [TOKEN], rateLimit: false, listOrder });
      try {
        const mine = Array.from(
          { length: 7 },
          () => ordered.createAction({ kind: 'droplet', resourceId: 900, durationMs: 0 }).id,
        );
        // Noise: another droplet, and an image with the same id.
        ordered.createAction({ kind: 'droplet', resourceId: 901 });
        const imageIds = [ordered.createAction({ kind: 'image', resourceId: 900 }).id];
        const api = client(ordered.url);

        const seen = await collect(api.iterateResourceActions('droplet', 900, { perPage: 3 }));
        const expected = listOrder === 'oldest-first' ? mine : [...mine].reverse();
        expect(seen.map((action) => action.id)).toEqual(expected);
        expect(ordered.stats().byRoute['GET /v2/droplets/:droplet_id/actions']).toBe(3);

        const images = await collect(api.iterateResourceActions('image', 900, { perPage: 1 }));
        expect(images.map((action) => action.id)).toEqual(imageIds);
      } finally {
        await ordered.close();
      }
    },
  );

  it('yields each action once while new actions shift a newest-first listing between pages', async () => {
    const shifting = await Simulator.start({ tokens: [TOKEN], rateLimit: false, listOrder: 'newest-first' });
    try {
      const ids = Array.from(
        { length: 5 },
        () => shifting.createAction({ kind: 'droplet', resourceId: 77, durationMs: 0 }).id,
      );
      const seen: number[] = [];
      for await (const action of client(shifting.url).iterateResourceActions('droplet', 77, { perPage: 2 })) {
        seen.push(action.id);
        if (seen.length === 1) {
          shifting.createAction({ kind: 'droplet', resourceId: 77 });
          shifting.createAction({ kind: 'droplet', resourceId: 77 });
        }
      }
      expect(seen).toEqual([...ids].reverse());
    } finally {
      await shifting.close();
    }
  });
});

describe('what goes on the wire', () => {
  it('sends the bearer token, User-Agent actionwatch/<package version>, Accept, and JSON bodies', async () => {
    const server = await tinyServer((request, response) =>
      request.method === 'POST'
        ? sendJson(response, 201, {
            action: actionBody(
              2,
              request.url.includes('/images/') ? { resource_id: 8, resource_type: 'image' } : {},
            ),
          })
        : request.url.includes('/actions?')
          ? sendJson(response, 200, { actions: [actionBody(1)], links: {}, meta: { total: 1 } })
          : sendJson(response, 200, { action: actionBody(1) }),
    );
    const api = client(`${server.url}/`);

    await api.getAction(1);
    await api.listDropletActions(7);
    await api.listImageActions(8, { page: 3, perPage: 50 });
    await api.initiateImageAction(8, { type: 'transfer', region: 'nyc3' });
    await api.initiateDropletAction(7, { type: 'resize', size: 's-2vcpu-4gb', disk: true });

    expect(server.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      'GET /v2/actions/1',
      'GET /v2/droplets/7/actions?page=1&per_page=20',
      'GET /v2/images/8/actions?page=3&per_page=50',
      'POST /v2/images/8/actions',
      'POST /v2/droplets/7/actions',
    ]);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers['user-agent']).toBe(`actionwatch/${PACKAGE_VERSION}`);
      expect(request.headers.accept).toBe('application/json');
    }
    const [transfer, resize] = server.requests.slice(3);
    expect(transfer?.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(transfer?.body ?? '')).toEqual({ type: 'transfer', region: 'nyc3' });
    expect(JSON.parse(resize?.body ?? '')).toEqual({ type: 'resize', size: 's-2vcpu-4gb', disk: true });
  });

  it('takes the base URL from DIGITALOCEAN_API_URL, the token from DIGITALOCEAN_TOKEN and the timeout from DIGITALOCEAN_TIMEOUT', async () => {
    const server = await tinyServer((request, response) => {
      if (request.url === '/v2/actions/5') sendJson(response, 200, { action: actionBody(5) });
      // Anything else never answers.
    });
    const prefix = testPrefix('do-client-env');
    const runtime = new Runtime(
      loadConfig({
        REDIS_URL,
        ACTIONWATCH_PREFIX: prefix,
        DIGITALOCEAN_API_URL: `${server.url}/`,
        DIGITALOCEAN_TOKEN: 'env-token-91c2',
        DIGITALOCEAN_TIMEOUT: '300ms',
        DIGITALOCEAN_RETRIES: '0',
      }),
      new LogCapture().logger,
    );
    try {
      const api = runtime.client();
      expect(await api.getAction(5)).toMatchObject({ id: 5 });
      expect(server.requests[0]?.headers.authorization).toBe('Bearer env-token-91c2');

      const started = Date.now();
      const slow = await rejectionOf(api.getAction(6));
      expect(slow).toBeInstanceOf(TransientError);
      expect((slow as Error).message).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await runtime.close();
      const cleaner = createRedis(REDIS_URL);
      await deleteKeysWithPrefix(cleaner, prefix);
      cleaner.disconnect();
    }
  });

  it.each([301, 302, 307, 308])(
    'does not follow a %i redirect, so the token never reaches its target',
    async (status) => {
      const target = await tinyServer((_request, response) =>
        sendJson(response, 200, { action: actionBody(1) }),
      );
      const origin = await tinyServer((_request, response) => {
        response.writeHead(status, { location: `${target.url}/v2/actions/1` });
        response.end();
      });

      const error = await rejectionOf(client(origin.url).getAction(1));
      expect(error).toBeInstanceOf(ClientError);
      expect(error).toMatchObject({ status, retryable: false });
      expect(origin.requests).toHaveLength(1);
      expect(target.requests).toHaveLength(0);
    },
  );

  it('follows a next link that names another host on the configured base URL, never sending the token there', async () => {
    const elsewhere = await tinyServer((_request, response) =>
      sendJson(response, 200, { actions: [actionBody(99)], links: {}, meta: { total: 1 } }),
    );
    const home = await tinyServer((request, response) => {
      const page = new URL(request.url, 'http://x').searchParams.get('page');
      sendJson(response, 200, {
        actions: page === '1' ? [actionBody(1), actionBody(2)] : [actionBody(3)],
        links:
          page === '1' ? { pages: { next: `${elsewhere.url}/v2/droplets/7/actions?page=2&per_page=2` } } : {},
        meta: { total: 3 },
      });
    });

    const seen = await collect(client(home.url).iterateResourceActions('droplet', 7, { perPage: 2 }));
    expect(seen.map((action) => action.id)).toEqual([1, 2, 3]);
    expect(home.requests.map((request) => request.url)).toEqual([
      '/v2/droplets/7/actions?page=1&per_page=2',
      '/v2/droplets/7/actions?page=2&per_page=2',
    ]);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it.each([
    ['a path outside the API', (host: string) => `http://${host}/login?page=2`],
    ['a page of another host outside the API', () => 'https://evil.example/collect?page=2'],
    ['no URL at all', () => 'http://[not a url'],
    [
      'a link back to a page already read',
      (host: string) => `http://${host}/v2/droplets/7/actions?page=1&per_page=1`,
    ],
  ])(
    'fails the listing loudly (PageLinkError) on a next link to %s, rather than return part of it',
    async (_what, link) => {
      const server = await tinyServer((request, response) =>
        sendJson(response, 200, {
          actions: [actionBody(1)],
          links: { pages: { next: link(String(request.headers.host)) } },
          meta: { total: 2 },
        }),
      );
      const error = await rejectionOf(
        collect(client(server.url).iterateResourceActions('droplet', 7, { perPage: 1 })),
      );
      expect(error).toBeInstanceOf(PageLinkError);
      expect(error).toBeInstanceOf(TransientError);
      expect(server.requests).toHaveLength(1);
    },
  );

  it('fails loudly when a listing keeps linking past its meta.total, rather than page forever', async () => {
    const server = await tinyServer((request, response) => {
      const page = Number(new URL(request.url, 'http://x').searchParams.get('page'));
      sendJson(response, 200, {
        actions: [actionBody(page)],
        links: {
          pages: { next: `http://${request.headers.host}/v2/droplets/7/actions?page=${page + 1}&per_page=1` },
        },
        meta: { total: 3 },
      });
    });
    const error = await rejectionOf(
      collect(client(server.url).iterateResourceActions('droplet', 7, { perPage: 1 })),
    );
    expect(error).toBeInstanceOf(PageLinkError);
    expect((error as Error).message).toMatch(/meta.total is 3/);
    expect(server.requests).toHaveLength(5);
  });

  it('follows next links under a base URL that has a path', async () => {
    const pages: Record<string, unknown> = {
      '1': { actions: [actionBody(1), actionBody(2)], next: 2 },
      '2': { actions: [actionBody(3), actionBody(4)], next: 3 },
      '3': { actions: [actionBody(5)] },
    };
    const server = await tinyServer((request, response) => {
      const url = new URL(request.url, `http://${request.headers.host}`);
      const page = pages[url.searchParams.get('page') ?? ''] as
        | { actions: Action[]; next?: number }
        | undefined;
      if (url.pathname !== '/do-proxy/v2/droplets/7/actions' || page === undefined) {
        sendJson(response, 404, {
          id: 'not_found',
          message: 'The resource you requested could not be found.',
        });
        return;
      }
      const next = `http://${request.headers.host}${url.pathname}?page=${page.next}&per_page=2`;
      sendJson(response, 200, {
        actions: page.actions,
        links: page.next === undefined ? {} : { pages: { next } },
        meta: { total: 5 },
      });
    });

    const api = client(`${server.url}/do-proxy/`);
    const seen = await collect(api.iterateResourceActions('droplet', 7, { perPage: 2 }));
    expect(seen.map((action) => action.id)).toEqual([1, 2, 3, 4, 5]);
    expect(server.requests.map((request) => request.url)).toEqual([
      '/do-proxy/v2/droplets/7/actions?page=1&per_page=2',
      '/do-proxy/v2/droplets/7/actions?page=2&per_page=2',
      '/do-proxy/v2/droplets/7/actions?page=3&per_page=2',
    ]);
  });

  it("keeps paging its own listing, with the link's query, when a next link names another API path, as the seeds' example does", async () => {
    const server = await tinyServer((request, response) => {
      const page = new URL(request.url, 'http://x').searchParams.get('page');
      sendJson(response, 200, {
        actions: [actionBody(Number(page), { resource_type: 'image', resource_id: 8 })],
        // Seed 002 (List All Actions for an Image) links its next page to /v2/images.
        links: page === '1' ? { pages: { next: `http://${request.headers.host}/v2/images?page=2` } } : {},
        meta: { total: 2 },
      });
    });
    const seen = await collect(client(server.url).iterateResourceActions('image', 8, { perPage: 1 }));
    expect(seen.map((action) => action.id)).toEqual([1, 2]);
    expect(server.requests.map((request) => request.url)).toEqual([
      '/v2/images/8/actions?page=1&per_page=1',
      '/v2/images/8/actions?page=2',
    ]);
  });

  it('aborts an in-flight call with the signal, without retrying it', async () => {
    const server = await tinyServer(() => {
      // Never answers.
    });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('shutting down')), 150);

    const error = await rejectionOf(
      client(server.url, { retries: 3 }).getAction(1, { signal: controller.signal }),
    );
    expect(error).toBe(controller.signal.reason);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(server.requests).toHaveLength(1);
  });

  it('aborts a call waiting between retries, and sends nothing for an already aborted signal', async () => {
    const server = await tinyServer((_request, response) =>
      sendJson(response, 503, { id: 'service_unavailable', message: 'Service Unavailable' }),
    );
    const api = client(server.url, { retries: 10, maxRetryTimeMs: 60_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const error = await rejectionOf(api.getAction(1, { signal: controller.signal }));
    expect((error as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(2_500);
    const sent = server.requests.length;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(2);

    await expect(api.getAction(1, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(server.requests).toHaveLength(sent);
  });
});

describe('the token never leaks', () => {
  let sim: Simulator;

  beforeAll(async () => {
    sim = await Simulator.start({ tokens: [TOKEN], rateLimit: false });
  });

  afterAll(async () => {
    await sim.close();
  });

  function expectNoToken(value: unknown, where: string): void {
    const views = [
      String(value),
      JSON.stringify(value) ?? '',
      inspect(value),
      inspect(value, { depth: Number.POSITIVE_INFINITY }),
      inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      value instanceof Error ? `${value.message}\n${value.stack ?? ''}` : '',
    ];
    for (const view of views) expect(view, where).not.toContain(TOKEN);
  }

  it('not in errors of any kind, their causes, the client, or the logs', async () => {
    const logs = new LogCapture('debug');
    const api = client(sim.url, { retries: 1, timeoutMs: 300, logger: logs.logger });
    const action = sim.createAction({ kind: 'droplet', resourceId: 12 });
    const hanging = await tinyServer((request, response) => {
      if (request.url.startsWith('/v2/actions/')) return; // never answers
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"action": {"id": 1, ');
      // ...and never finishes.
    });

    const errors: Array<[string, unknown]> = [];
    const record = async (where: string, call: Promise<unknown>) => {
      errors.push([where, await rejectionOf(call)]);
    };
    await record('404', api.getAction(1));
    await record('422', api.initiateDropletAction(12, { type: 'reboot' }));
    sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 3 });
    await record('429', api.getAction(action.id));
    sim.injectFault({ kind: 'status', status: 500, times: 2 });
    await record('500', api.getAction(action.id));
    sim.injectFault({ kind: 'drop', times: 2 });
    await record('dropped', api.getAction(action.id));
    sim.injectFault({ kind: 'malformed-json', times: 2 });
    await record('malformed', api.getAction(action.id));
    await record('timeout before headers', client(hanging.url, { retries: 0, timeoutMs: 200 }).getAction(1));
    await record(
      'timeout in the body',
      client(hanging.url, { retries: 0, timeoutMs: 200 }).getDropletAction(7, 1),
    );
    await record('refused', client('http://127.0.0.1:9', { retries: 0 }).getAction(1));
    const revoked = new DigitalOceanClient({ baseUrl: sim.url, token: new Secret(`${TOKEN}-old`) });
    await record('401', revoked.getAction(action.id));

    expect(errors.map(([, error]) => (error as Error).constructor.name)).toEqual([
      'NotFoundError',
      'ClientError',
      'RateLimitedError',
      'TransientError',
      'TransientError',
      'TransientError',
      'TransientError',
      'TransientError',
      'ConnectionFailedError',
      'UnauthorizedError',
    ]);
    expect(errors[2]?.[1]).toBeInstanceOf(RateLimitedError);
    expect(errors[9]?.[1]).toBeInstanceOf(UnauthorizedError);
    for (const [where, error] of errors) expectNoToken(error, where);
    expectNoToken(api, 'client');
    expectNoToken(revoked, 'client with another token');
    expect(logs.raw.length).toBeGreaterThan(0);
    for (const line of logs.raw) expect(line).not.toContain(TOKEN);
  });

  it('not in the client while a request is in flight', async () => {
    const server = await tinyServer(() => {
      // Never answers.
    });
    const api = client(server.url, { retries: 0 });
    const controller = new AbortController();
    const pending = api.getAction(1, { signal: controller.signal }).catch(() => undefined);
    while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expectNoToken(api, 'client mid-request');
    controller.abort();
    await pending;
  });
});
