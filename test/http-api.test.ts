import { timingSafeEqual } from 'node:crypto';
import $RefParser from '@apidevtools/json-schema-ref-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Secret } from '../src/config/secret.js';
import { assertSafeBinding, DASHBOARD_COOKIE, dashboardSession, tokensMatch } from '../src/http/auth.js';
import { buildServer } from '../src/http/server.js';
import { SIM_TOKEN, type Stack, startStack } from './support/stack.js';

const API_TOKEN = 'api-token-for-http-tests-0123456789';

// Watch the comparison itself: every token check must go through crypto.timingSafeEqual.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

interface Media {
  schema: object;
}

interface Operation {
  security?: unknown[];
  parameters?: Array<{ schema: object }>;
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { description?: string; content?: Record<string, Media> }>;
}

/** The parts of an OpenAPI 3.1 document this suite looks at. */
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}
const AUTH = { authorization: `Bearer ${API_TOKEN}` };

describe('HTTP API (Fastify inject, real Redis, simulator over HTTP)', () => {
  let stack: Stack;
  let app: FastifyInstance;
  /** Every response body this suite saw, to check that no credential ever appears in one. */
  const bodies: string[] = [];

  async function call(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    options: { body?: unknown; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<LightMyRequestResponse> {
    const response = await app.inject({
      method,
      url,
      headers: {
        ...AUTH,
        ...(options.raw === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { payload: options.body as object }),
      ...(options.raw === undefined ? {} : { payload: options.raw }),
    });
    bodies.push(response.body);
    return response;
  }

  async function queuedJobs(): Promise<number> {
    const counts = await stack.runtime.watches.counts();
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  beforeAll(async () => {
    stack = await startStack({ name: 'http-api', env: { API_TOKEN, WEBHOOK_ALLOW_PRIVATE: 'false' } });
    app = await buildServer(stack.runtime, { readinessCacheMs: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await stack?.close();
    const joined = bodies.join('\n');
    expect(joined).not.toContain(SIM_TOKEN);
    expect(joined).not.toContain(API_TOKEN);
  });

  describe('auth', () => {
    const routes: Array<['GET' | 'POST' | 'DELETE', string]> = [
      ['POST', '/v1/watches'],
      ['POST', '/v1/watches/batch'],
      ['GET', '/v1/watches'],
      ['GET', '/v1/watches/droplet-1-2'],
      ['DELETE', '/v1/watches/droplet-1-2'],
      ['GET', '/v1/watches/droplet-1-2/wait'],
      ['GET', '/v1/events'],
      ['GET', '/admin/queues'],
      ['GET', '/admin/queues/api/queues'],
    ];

    it.each(routes)('%s %s refuses a request without a token', async (method, url) => {
      const response = await app.inject({ method, url });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(response.json()).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
    });

    it.each([
      ['a wrong token of the same length', `Bearer ${API_TOKEN.replace(/.$/, 'x')}`],
      ['a prefix of the token', `Bearer ${API_TOKEN.slice(0, 10)}`],
      ['the token with more after it', `Bearer ${API_TOKEN}0`],
      ['another scheme', `Basic ${Buffer.from(`user:${API_TOKEN}`).toString('base64')}`],
      ['the token without a scheme', API_TOKEN],
    ])('refuses %s', async (_name, authorization) => {
      for (const [method, url] of routes) {
        const response = await app.inject({ method, url, headers: { authorization } });
        expect(response.statusCode, `${method} ${url}`).toBe(401);
      }
    });

    it('accepts the token with any case of "Bearer"', async () => {
      const response = await app.inject({
        method: 'GET',
        url: '/v1/watches',
        headers: { authorization: `bearer ${API_TOKEN}` },
      });
      expect(response.statusCode).toBe(200);
    });

    it('compares tokens in constant time, whatever their lengths', async () => {
      const compare = vi.mocked(timingSafeEqual);
      for (const given of ['x', API_TOKEN.slice(0, -1), `${API_TOKEN}${'y'.repeat(500)}`, API_TOKEN]) {
        compare.mockClear();
        await app.inject({
          method: 'GET',
          url: '/v1/watches',
          headers: { authorization: `Bearer ${given}` },
        });
        // Once per request, on two digests of equal length: the work does not depend on the guess.
        expect(compare).toHaveBeenCalledTimes(1);
        const [a, b] = compare.mock.calls[0] as [Buffer, Buffer];
        expect([a.length, b.length]).toEqual([32, 32]);
      }
      expect(tokensMatch(API_TOKEN, API_TOKEN)).toBe(true);
      expect(tokensMatch('', API_TOKEN)).toBe(false);
      expect(tokensMatch(API_TOKEN.slice(0, -1), API_TOKEN)).toBe(false);
      expect(tokensMatch(`${API_TOKEN}${'x'.repeat(10_000)}`, API_TOKEN)).toBe(false);
    });

    it('refuses to listen beyond loopback without API_TOKEN', () => {
      for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
        expect(() => assertSafeBinding(host, undefined), host).not.toThrow();
      }
      for (const host of ['0.0.0.0', '::', '10.0.0.5', '::ffff:10.0.0.5', 'actionwatch.internal', '']) {
        expect(() => assertSafeBinding(host, undefined), host).toThrow(
          /API_TOKEN is not set: refusing to listen/,
        );
        expect(() => assertSafeBinding(host, new Secret(API_TOKEN)), host).not.toThrow();
      }
    });

    it('leaves health, readiness, metrics and the OpenAPI document open', async () => {
      for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
        const response = await app.inject({ method: 'GET', url });
        expect(response.statusCode, url).toBe(200);
      }
    });
  });

  describe('POST /v1/watches', () => {
    it('creates a watch (201, Location), then answers 200 with the same watch', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 11, durationMs: 60_000 });
      const body = { kind: 'droplet', resourceId: 11, actionId: action.id, timeout: '30m' };
      const first = await call('POST', '/v1/watches', { body });
      expect(first.statusCode).toBe(201);
      const id = `droplet-11-${action.id}`;
      expect(first.headers.location).toBe(`/v1/watches/${id}`);
      expect(first.json()).toMatchObject({
        id,
        kind: 'droplet',
        resourceId: 11,
        actionId: action.id,
        state: 'waiting',
        outcome: null,
        action: null,
        polls: 0,
        finishedAt: null,
      });
      const deadline = Date.parse(first.json().deadlineAt) - Date.parse(first.json().enqueuedAt);
      expect(deadline).toBe(30 * 60_000);

      const again = await call('POST', '/v1/watches', { body: { ...body, resourceId: '11' } });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(first.json());
    });

    it('keeps per-watch webhooks with the job, normalised', async () => {
      const response = await call('POST', '/v1/watches', {
        body: {
          kind: 'image',
          resourceId: 12,
          actionId: 1200,
          webhooks: [{ url: 'https://93.184.215.14/hook?x=1', on: ['errored', 'timed_out'] }],
        },
      });
      expect(response.statusCode).toBe(201);
      const job = await stack.runtime.watches.queue.getJob('image-12-1200');
      expect(job?.data.webhooks).toEqual([
        { url: 'https://93.184.215.14/hook?x=1', on: ['errored', 'timed_out'] },
      ]);
      // The public view of a watch does not carry its webhook URLs.
      expect(response.body).not.toContain('93.184.215.14');
    });

    const valid = { kind: 'droplet', resourceId: 21, actionId: 2100 };
    const cases: Array<[string, unknown, RegExp]> = [
      ['a missing kind', { resourceId: 21, actionId: 2100 }, /^kind is required$/],
      [
        'an unknown kind',
        { ...valid, kind: 'load_balancer' },
        /^kind must be one of droplet, image, volume, reserved_ip, reserved_ipv6, floating_ip, nfs, action$/,
      ],
      ['a kind of the wrong type', { ...valid, kind: 1 }, /^kind must be a string$/],
      ['a missing resourceId', { kind: 'droplet', actionId: 2100 }, /^resourceId is required$/],
      [
        'a negative resourceId',
        { ...valid, resourceId: -1 },
        /^resourceId must be a positive whole number \(got -1\)$/,
      ],
      [
        'a resourceId with letters',
        { ...valid, resourceId: '21a' },
        /^resourceId must be a positive whole number/,
      ],
      ['a boolean resourceId', { ...valid, resourceId: true }, /^resourceId must be an integer or a string$/],
      [
        'a fractional resourceId',
        { ...valid, resourceId: 2.5 },
        /^resourceId must be an integer or a string$/,
      ],
      ['a missing actionId', { kind: 'droplet', resourceId: 21 }, /^actionId is required$/],
      ['a zero actionId', { ...valid, actionId: 0 }, /^actionId must be a positive whole number \(got 0\)$/],
      [
        'an unsafe actionId',
        { ...valid, actionId: '99999999999999999999' },
        /^actionId must be a positive whole number/,
      ],
      [
        'a timeout that is no duration',
        { ...valid, timeout: 'soon' },
        /^timeout must be a positive duration such as 30m or 6h \(got "soon"\)$/,
      ],
      ['a zero timeout', { ...valid, timeout: '0s' }, /^timeout must be a positive duration/],
      ['a numeric timeout', { ...valid, timeout: 30 }, /^timeout must be a string$/],
      [
        'webhooks that are not a list',
        { ...valid, webhooks: 'https://example.com' },
        /^webhooks must be an array$/,
      ],
      [
        'a webhook without url',
        { ...valid, webhooks: [{ on: ['completed'] }] },
        /^webhooks\[0\]\.url is required$/,
      ],
      [
        'a relative webhook url',
        { ...valid, webhooks: [{ url: '/hook' }] },
        /^webhooks\[0\]\.url: webhook URL "\/hook" is not an absolute URL$/,
      ],
      [
        'an ftp webhook url',
        { ...valid, webhooks: [{ url: 'ftp://93.184.215.14/x' }] },
        /^webhooks\[0\]\.url: .*must use http or https$/,
      ],
      [
        'a webhook url with credentials',
        { ...valid, webhooks: [{ url: 'https://u:p@93.184.215.14/x' }] },
        /^webhooks\[0\]\.url: webhook URL must not contain credentials/,
      ],
      [
        'a webhook url on loopback',
        { ...valid, webhooks: [{ url: 'https://93.184.215.14/ok' }, { url: 'http://127.0.0.1:9/x' }] },
        /^webhooks\[1\]\.url: webhook host 127\.0\.0\.1 resolves to 127\.0\.0\.1 \(loopback\); refused/,
      ],
      [
        'a webhook url on the metadata service',
        { ...valid, webhooks: [{ url: 'http://169.254.169.254/latest' }] },
        /^webhooks\[0\]\.url: .*cloud metadata service/,
      ],
      [
        'an unknown outcome in on',
        { ...valid, webhooks: [{ url: 'https://93.184.215.14/x', on: ['completed', 'done'] }] },
        /^webhooks\[0\]\.on\[1\] must be one of completed, errored, not_found, timed_out, cancelled$/,
      ],
      [
        'an empty on',
        { ...valid, webhooks: [{ url: 'https://93.184.215.14/x', on: [] }] },
        /^webhooks\[0\]\.on must hold at least 1 item$/,
      ],
      [
        'a repeated outcome in on',
        { ...valid, webhooks: [{ url: 'https://93.184.215.14/x', on: ['errored', 'errored'] }] },
        /^webhooks\[0\]\.on must not repeat a value$/,
      ],
      [
        'an unknown webhook field',
        { ...valid, webhooks: [{ url: 'https://93.184.215.14/x', secret: 's' }] },
        /^webhooks\[0\]\.secret is not a known field$/,
      ],
      [
        'too many webhooks',
        { ...valid, webhooks: Array.from({ length: 11 }, (_, i) => ({ url: `https://93.184.215.14/${i}` })) },
        /^webhooks may hold at most 10 items$/,
      ],
      ['an unknown field', { ...valid, colour: 'red' }, /^colour is not a known field$/],
      ['a body that is a list', [valid], /^the body must be an object$/],
    ];

    it.each(cases)(
      'refuses %s with a 400 naming the field, and enqueues nothing',
      async (_name, body, message) => {
        const before = await queuedJobs();
        const response = await call('POST', '/v1/watches', { body });
        expect(response.statusCode).toBe(400);
        expect(response.json()).toEqual({ error: 'bad_request', message: expect.stringMatching(message) });
        expect(await queuedJobs()).toBe(before);
      },
    );

    it('refuses a body that is not JSON, or missing', async () => {
      const broken = await call('POST', '/v1/watches', { raw: '{"kind": "droplet",' });
      expect(broken.statusCode).toBe(400);
      expect(broken.json()).toMatchObject({ error: 'bad_request', message: expect.stringMatching(/JSON/i) });
      const empty = await call('POST', '/v1/watches', { raw: '' });
      expect(empty.statusCode).toBe(400);
      expect(empty.json().error).toBe('bad_request');
      const text = await call('POST', '/v1/watches', {
        raw: 'kind=droplet',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(text.statusCode).toBe(415);
      expect(text.json().error).toBe('unsupported_media_type');
    });

    it('refuses a body over the size limit with 413', async () => {
      const response = await call('POST', '/v1/watches', {
        raw: JSON.stringify({ ...valid, padding: 'x'.repeat(1024 * 1024) }),
      });
      expect(response.statusCode).toBe(413);
      expect(response.json().error).toBe('payload_too_large');
    });
  });

  describe('POST /v1/watches/batch', () => {
    it('enqueues nothing when one item is bad, and names every bad item', async () => {
      const before = await queuedJobs();
      const response = await call('POST', '/v1/watches/batch', {
        body: {
          watches: [
            { kind: 'droplet', resourceId: 31, actionId: 3101 },
            { kind: 'droplet', resourceId: 31, actionId: 3102 },
            { kind: 'droplet', resourceId: 31, actionId: -3 },
            { kind: 'image', resourceId: 32, actionId: 3201, timeout: 'later' },
          ],
        },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe(
        'watches[2].actionId must be a positive whole number (got -3); watches[3].timeout must be a positive duration such as 30m or 6h (got "later"); nothing was enqueued',
      );
      expect(await queuedJobs()).toBe(before);
      expect((await call('GET', '/v1/watches/droplet-31-3101')).statusCode).toBe(404);
    });

    it('names the item that fails the schema', async () => {
      const response = await call('POST', '/v1/watches/batch', {
        body: {
          watches: [
            { kind: 'droplet', resourceId: 1, actionId: 1 },
            { kind: 'droplet', resourceId: 1 },
          ],
        },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toBe('watches[1].actionId is required');
    });

    it('refuses an empty batch, more than 1,000 watches and unknown fields', async () => {
      const before = await queuedJobs();
      const empty = await call('POST', '/v1/watches/batch', { body: { watches: [] } });
      expect(empty.json().message).toBe('watches must hold at least 1 item');
      const many = Array.from({ length: 1001 }, (_, i) => ({
        kind: 'droplet',
        resourceId: 40,
        actionId: i + 1,
      }));
      const tooMany = await call('POST', '/v1/watches/batch', { body: { watches: many } });
      expect(tooMany.statusCode).toBe(400);
      expect(tooMany.json().message).toBe('watches may hold at most 1000 items');
      const extra = await call('POST', '/v1/watches/batch', {
        body: { watches: many.slice(0, 1), dryRun: true },
      });
      expect(extra.json().message).toBe('dryRun is not a known field');
      const missing = await call('POST', '/v1/watches/batch', { body: {} });
      expect(missing.json().message).toBe('watches is required');
      expect(await queuedJobs()).toBe(before);
    });

    it('enqueues 1,000 watches in one request, then joins them all', async () => {
      const watches = Array.from({ length: 1000 }, (_, i) => ({
        kind: 'image',
        resourceId: 50,
        actionId: 5000 + i,
        timeout: '1h',
        webhooks: [{ url: 'https://93.184.215.14/batch', on: ['completed'] }],
      }));
      const first = await call('POST', '/v1/watches/batch', { body: { watches } });
      expect(first.statusCode).toBe(201);
      const results = first.json().results as Array<{
        created: boolean;
        watch: { id: string; state: string };
      }>;
      expect(results).toHaveLength(1000);
      expect(results.every((result) => result.created && result.watch.state === 'waiting')).toBe(true);
      expect(results[999]?.watch.id).toBe('image-50-5999');

      const again = await call('POST', '/v1/watches/batch', { body: { watches: watches.slice(0, 3) } });
      expect(again.statusCode).toBe(200);
      expect(again.json().results.map((result: { created: boolean }) => result.created)).toEqual([
        false,
        false,
        false,
      ]);
    });
  });

  describe('GET /v1/watches and /v1/watches/{id}', () => {
    it('gets one watch, 404 for an unknown one, 400 for a malformed id', async () => {
      await call('POST', '/v1/watches', { body: { kind: 'droplet', resourceId: 61, actionId: 6100 } });
      const found = await call('GET', '/v1/watches/droplet-61-6100');
      expect(found.statusCode).toBe(200);
      expect(found.json()).toMatchObject({ id: 'droplet-61-6100', state: 'waiting' });
      const missing = await call('GET', '/v1/watches/droplet-61-6199');
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual({ error: 'not_found', message: 'no watch with id droplet-61-6199' });
      const malformed = await call('GET', '/v1/watches/volume-1-2');
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().message).toMatch(/^path parameter id is not in the expected form/);
    });

    it('lists by state and kind, a page at a time', async () => {
      const page = await call('GET', '/v1/watches?state=waiting&kind=droplet&limit=2');
      expect(page.statusCode).toBe(200);
      const first = page.json() as {
        watches: Array<{ id: string; kind: string; state: string }>;
        nextCursor: string;
      };
      expect(first.watches).toHaveLength(2);
      expect(first.watches.every((watch) => watch.kind === 'droplet' && watch.state === 'waiting')).toBe(
        true,
      );
      expect(first.nextCursor).toEqual(expect.any(String));
      const next = await call(
        'GET',
        `/v1/watches?state=waiting&kind=droplet&limit=2&cursor=${encodeURIComponent(first.nextCursor)}`,
      );
      const second = next.json() as typeof first;
      const ids = [...first.watches, ...second.watches].map((watch) => watch.id);
      expect(new Set(ids).size).toBe(ids.length);

      const images = await call('GET', '/v1/watches?kind=image&limit=1000');
      expect(images.json().watches.length).toBeGreaterThanOrEqual(1000);
      expect(images.json().watches.every((watch: { kind: string }) => watch.kind === 'image')).toBe(true);

      const done = await call('GET', '/v1/watches?state=done');
      expect(done.json().watches.every((watch: { state: string }) => watch.state === 'done')).toBe(true);
    });

    it.each([
      ['state=finished', /^query parameter state must be one of waiting, done, all$/],
      [
        'kind=load_balancer',
        /^query parameter kind must be one of droplet, image, volume, reserved_ip, reserved_ipv6, floating_ip, nfs, action$/,
      ],
      ['limit=0', /^query parameter limit must be from 1 to 1000 \(got 0\)$/],
      ['limit=1001', /^query parameter limit must be from 1 to 1000/],
      ['limit=ten', /^query parameter limit is not in the expected form/],
      ['cursor=nonsense', /cursor is not valid/],
      ['sort=asc', /^query parameter sort is not a known field$/],
    ])('refuses ?%s', async (query, message) => {
      const response = await call('GET', `/v1/watches?${query}`);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: 'bad_request', message: expect.stringMatching(message) });
    });
  });

  describe('DELETE /v1/watches/{id}', () => {
    it('cancels a waiting watch, emits action.cancelled once, and counts it', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 71, durationMs: 60_000 });
      const id = `droplet-71-${action.id}`;
      await call('POST', '/v1/watches', { body: { kind: 'droplet', resourceId: 71, actionId: action.id } });
      const cancelled = await call('DELETE', `/v1/watches/${id}`);
      expect(cancelled.statusCode).toBe(200);
      expect(cancelled.json()).toMatchObject({
        id,
        state: 'done',
        outcome: 'cancelled',
        reason: 'cancelled by request',
      });
      const again = await call('DELETE', `/v1/watches/${id}`);
      expect(again.statusCode).toBe(200);
      expect(again.json().outcome).toBe('cancelled');

      const events = await stack.runtime.redis.xrange(`${stack.prefix}:events`, '-', '+');
      const mine = events.filter(([, fields]) => fields.includes(id));
      expect(mine).toHaveLength(1);
      expect(mine[0]?.[1]).toContain('action.cancelled');

      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^actionwatch_outcomes_total\{outcome="cancelled"\} 1$/m);

      const missing = await call('DELETE', '/v1/watches/droplet-71-1');
      expect(missing.statusCode).toBe(404);
    });
  });

  describe('GET /v1/watches/{id}/wait', () => {
    it('answers a finished watch at once, and 202 with the current state at the timeout', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 81, durationMs: 60_000 });
      const id = `droplet-81-${action.id}`;
      await call('POST', '/v1/watches', { body: { kind: 'droplet', resourceId: 81, actionId: action.id } });
      const started = Date.now();
      const waiting = await call('GET', `/v1/watches/${id}/wait?timeout=400ms`);
      expect(waiting.statusCode).toBe(202);
      expect(waiting.json()).toMatchObject({ id, state: 'waiting' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(380);

      await call('DELETE', `/v1/watches/${id}`);
      const done = await call('GET', `/v1/watches/${id}/wait`);
      expect(done.statusCode).toBe(200);
      expect(done.json()).toMatchObject({ id, state: 'done', outcome: 'cancelled' });
    });

    it('answers as soon as the outcome is recorded', async () => {
      const action = stack.simulator.createAction({ kind: 'image', resourceId: 82, durationMs: 60_000 });
      const id = `image-82-${action.id}`;
      await call('POST', '/v1/watches', { body: { kind: 'image', resourceId: 82, actionId: action.id } });
      const started = Date.now();
      const wait = call('GET', `/v1/watches/${id}/wait?timeout=20s`);
      setTimeout(() => void stack.runtime.watches.cancel(id), 300);
      const response = await wait;
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ id, outcome: 'cancelled' });
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it.each([
      ['droplet-81-1/wait', 404, /^no watch with id droplet-81-1$/],
      ['droplet-81-1/wait?timeout=later', 400, /^query parameter timeout must be a positive duration/],
      ['droplet-81-1/wait?timeout=6m', 400, /^query parameter timeout may be at most 5m/],
      ['droplet-81-1/wait?timeout=1s&extra=1', 400, /^query parameter extra is not a known field$/],
    ])('GET /v1/watches/%s → %i', async (path, status, message) => {
      const response = await call('GET', `/v1/watches/${path}`);
      expect(response.statusCode).toBe(status);
      expect(response.json().message).toMatch(message);
    });
  });

  describe('GET /v1/events (validation; streaming is tested over a socket)', () => {
    it.each([
      ['?type=action.done', /^query parameter type must list event types among action\.completed/],
      ['?type=', /^query parameter type must list event types/],
      ['?lastEventId=yesterday', /^Last-Event-ID must be an event id/],
    ])('refuses %s', async (query, message) => {
      const response = await call('GET', `/v1/events${query}`);
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toMatch(message);
    });

    it('refuses a malformed Last-Event-ID header', async () => {
      const response = await call('GET', '/v1/events', { headers: { 'last-event-id': '../../etc' } });
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toMatch(/^Last-Event-ID must be an event id/);
    });
  });

  describe('operations', () => {
    it('/healthz says the process is up', async () => {
      const response = await app.inject({ method: 'GET', url: '/healthz' });
      expect(response.json()).toEqual({ status: 'ok' });
    });

    it('/readyz checks Redis and the token, and says which check failed', async () => {
      const ready = await call('GET', '/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        ready: true,
        checks: { redis: { ok: true }, digitalocean: { ok: true } },
      });

      stack.simulator.revokeToken(SIM_TOKEN);
      try {
        const refused = await call('GET', '/readyz');
        expect(refused.statusCode).toBe(503);
        expect(refused.json()).toMatchObject({
          ready: false,
          checks: { redis: { ok: true }, digitalocean: { ok: false, detail: expect.stringMatching(/401/) } },
        });
      } finally {
        stack.simulator.addToken(SIM_TOKEN);
      }
    });

    it('/metrics is in Prometheus format with every series family', async () => {
      const response = await app.inject({ method: 'GET', url: '/metrics' });
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      for (const family of [
        'actionwatch_polls_total',
        'actionwatch_digitalocean_responses_total',
        'actionwatch_digitalocean_ratelimit_remaining',
        'actionwatch_rate_limit_paused_seconds_total',
        'actionwatch_outcomes_total',
        'actionwatch_detection_latency_seconds',
        'actionwatch_webhook_deliveries_total',
        'actionwatch_watches',
        'actionwatch_queue_jobs',
      ]) {
        expect(response.body).toContain(`# TYPE ${family} `);
      }
      expect(response.body).toMatch(/^actionwatch_watches\{state="waiting"\} \d+/m);
      expect(response.body).toMatch(/^actionwatch_queue_jobs\{queue="watches",state="delayed"\} \d+/m);
      expect(response.body).toMatch(/^actionwatch_queue_jobs\{queue="deliveries",state="failed"\} 0/m);
      // The /readyz token check went through a counted client.
      expect(response.body).toMatch(/^actionwatch_digitalocean_responses_total\{status="200"\} [1-9]/m);
    });

    it('answers unknown routes with a JSON 404', async () => {
      const response = await call('GET', '/v2/nothing?token=abc');
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: 'not_found', message: 'no route GET /v2/nothing' });
    });
  });

  describe('/openapi.json', () => {
    it('is a valid OpenAPI 3.1 document generated from the route schemas', async () => {
      const response = await app.inject({ method: 'GET', url: '/openapi.json' });
      const document = response.json() as OpenApiDocument;
      expect(document.openapi).toBe('3.1.0');
      expect(document.info).toMatchObject({ title: 'actionwatch', version: expect.any(String) });
      const operations = Object.entries(document.paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
      );
      expect(operations.sort()).toEqual(
        [
          'DELETE /v1/watches/{id}',
          'GET /healthz',
          'GET /metrics',
          'GET /readyz',
          'GET /v1/events',
          'GET /v1/watches',
          'GET /v1/watches/{id}',
          'GET /v1/watches/{id}/wait',
          'POST /v1/watches',
          'POST /v1/watches/batch',
        ].sort(),
      );
      expect(document.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
      expect(document.paths['/healthz']?.get?.security).toEqual([]);
      expect(Object.keys(document.components.schemas)).toEqual(
        expect.arrayContaining(['Watch', 'WatchRequest', 'WatchWebhook', 'Error']),
      );

      // Every $ref resolves, and every schema in it is a valid JSON Schema 2020-12 (OpenAPI 3.1's dialect).
      const resolved = (await $RefParser.dereference(structuredClone(document))) as OpenApiDocument;
      const ajv = new Ajv2020({ strict: false, validateFormats: true });
      addFormats.default(ajv);
      const schemas: object[] = [];
      for (const item of Object.values(resolved.paths)) {
        for (const operation of Object.values(item)) {
          for (const parameter of operation.parameters ?? []) schemas.push(parameter.schema);
          for (const media of Object.values(operation.requestBody?.content ?? {})) schemas.push(media.schema);
          for (const reply of Object.values(operation.responses)) {
            expect(reply.description, JSON.stringify(reply)).toEqual(expect.any(String));
            for (const media of Object.values(reply.content ?? {})) schemas.push(media.schema);
          }
        }
      }
      expect(schemas.length).toBeGreaterThan(20);
      for (const schema of schemas) expect(() => ajv.compile(schema)).not.toThrow();

      // The documented request schema accepts what the API accepts.
      const requestSchema = resolved.paths['/v1/watches']?.post?.requestBody?.content['application/json'];
      const validate = ajv.compile(requestSchema?.schema ?? {});
      expect(
        validate({ kind: 'droplet', resourceId: 1, actionId: 2, webhooks: [{ url: 'https://x.test' }] }),
      ).toBe(true);
      expect(validate({ kind: 'droplet', resourceId: 1, actionId: 2, extra: 1 })).toBe(false);
    });
  });

  describe('dashboard', () => {
    it('serves Bull Board for both queues to a bearer token', async () => {
      const page = await call('GET', '/admin/queues');
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      const queues = await call('GET', '/admin/queues/api/queues');
      expect(queues.statusCode).toBe(200);
      const names = (queues.json().queues as Array<{ name: string; readOnlyMode: boolean }>).map(
        (q) => q.name,
      );
      expect(names.sort()).toEqual(['deliveries', 'watches']);
      expect(queues.json().queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
    });

    it('lets a browser in with ?token= once, then a cookie that is not the token', async () => {
      const login = await app.inject({ method: 'GET', url: `/admin/queues?token=${API_TOKEN}&x=1` });
      expect(login.statusCode).toBe(303);
      expect(login.headers.location).toBe('/admin/queues?x=1');
      const setCookie = String(login.headers['set-cookie']);
      expect(setCookie).toMatch(
        /^actionwatch_dashboard=[^;]+; Path=\/admin\/queues; HttpOnly; SameSite=Strict/,
      );
      expect(setCookie).not.toContain(API_TOKEN);
      const cookie = setCookie.split(';')[0] as string;
      expect(cookie).toBe(`${DASHBOARD_COOKIE}=${dashboardSession(new Secret(API_TOKEN))}`);

      const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
      expect(page.statusCode).toBe(200);
      const api = await app.inject({
        method: 'GET',
        url: '/admin/queues/api/queues',
        headers: { cookie: `a=b; ${cookie}` },
      });
      expect(api.statusCode).toBe(200);

      const forged = await app.inject({
        method: 'GET',
        url: '/admin/queues',
        headers: { cookie: `${DASHBOARD_COOKIE}=${API_TOKEN}` },
      });
      expect(forged.statusCode).toBe(401);
      const wrong = await app.inject({ method: 'GET', url: '/admin/queues?token=wrong' });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.headers['set-cookie']).toBeUndefined();
      // The cookie opens the dashboard only, not the API.
      const v1 = await app.inject({ method: 'GET', url: '/v1/watches', headers: { cookie } });
      expect(v1.statusCode).toBe(401);
    });
  });
});
