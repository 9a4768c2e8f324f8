import { afterEach, describe, expect, it } from 'vitest';
import { actionResponseSchema } from '../src/digitalocean/models.js';
import {
  type CallInit,
  call,
  fakeClock,
  type Reply,
  simulatorTracker,
  T0,
  TOKEN,
} from './support/simulator-harness.js';

/** Rate limits and injected faults, over real HTTP. */

const HOUR = 3_600_000;

const { start, closeAll } = simulatorTracker();

afterEach(closeAll);

function rate(reply: Reply) {
  const read = (name: string) => {
    const value = reply.headers.get(name);
    return value === null ? null : Number(value);
  };
  return {
    limit: read('ratelimit-limit'),
    remaining: read('ratelimit-remaining'),
    reset: read('ratelimit-reset'),
    retryAfter: read('retry-after'),
  };
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

describe('rate limits', () => {
  it('puts ratelimit headers on every response, errors and faults included', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, rateLimit: { perMinute: 100, perHour: 1000 } });
    const action = sim.createAction({ kind: 'droplet', resourceId: 1, durationMs: 60_000 });
    sim.injectFault({ kind: 'status', status: 500, path: '^/v2/images/1/actions$' });
    sim.injectFault({ kind: 'malformed-json', path: '^/v2/images/2/actions$' });
    sim.injectFault({ kind: 'wrong-shape', path: '^/v2/images/3/actions$' });
    sim.injectFault({ kind: 'status', status: 429, path: '^/v2/images/4/actions$' });
    const requests: Array<[string, CallInit, number]> = [
      ['/v2/actions', {}, 200],
      [`/v2/actions/${action.id}`, {}, 200],
      ['/v2/droplets/1/actions', { method: 'POST', body: { type: 'reboot' } }, 422],
      ['/v2/droplets/2/actions', { method: 'POST', body: { type: 'reboot' } }, 201],
      ['/v2/actions?page=zero', {}, 400],
      ['/v2/actions/12345', {}, 404],
      ['/v2/whatever', {}, 404],
      ['/v2/actions', { token: null }, 401],
      ['/v2/actions', { token: 'wrong' }, 401],
      ['/v2/images/1/actions', {}, 500],
      ['/v2/images/2/actions', {}, 200],
      ['/v2/images/3/actions', {}, 200],
      ['/v2/images/4/actions', {}, 429],
    ];
    let counted = 0;
    for (const [path, init, status] of requests) {
      const reply = await call(sim, path, init);
      expect({ path, status: reply.status }).toEqual({ path, status });
      const headers = rate(reply);
      expect(headers.limit).toBe(1000);
      expect(Number.isInteger(headers.remaining)).toBe(true);
      expect(headers.reset).toBeGreaterThanOrEqual(seconds(T0));
      if (status !== 401 && status !== 429) {
        counted++;
        expect({ path, remaining: headers.remaining }).toEqual({ path, remaining: 1000 - counted });
        expect(headers.reset).toBe(seconds(T0 + HOUR));
      }
    }
  });

  it('answers the per-minute limit with 429 and retry-after, and lets requests back as the minute slides', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, rateLimit: { perMinute: 3, perHour: 100 } });
    for (const [offset, remaining] of [
      [0, 99],
      [10_000, 98],
      [20_000, 97],
    ] as const) {
      clock.t = T0 + offset;
      const reply = await call(sim, '/v2/actions');
      expect(reply.status).toBe(200);
      expect(rate(reply)).toEqual({ limit: 100, remaining, reset: seconds(T0 + HOUR), retryAfter: null });
    }

    clock.t = T0 + 50_000;
    const limited = await call(sim, '/v2/actions');
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ id: 'too_many_requests', message: 'API Rate limit exceeded.' });
    expect(rate(limited)).toEqual({ limit: 100, remaining: 0, reset: seconds(T0 + HOUR), retryAfter: 10 });

    clock.t = T0 + 59_999;
    expect(rate(await call(sim, '/v2/actions')).retryAfter).toBe(1);

    // The first request leaves the minute window; the refused ones were never counted.
    clock.t = T0 + 60_000;
    const back = await call(sim, '/v2/actions');
    expect(back.status).toBe(200);
    expect(rate(back)).toMatchObject({ remaining: 96, retryAfter: null });
    expect(sim.stats().rateLimited).toBe(2);
  });

  it('answers the per-hour limit with 429, no retry-after, and reset at the oldest request expiry', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, rateLimit: { perMinute: 100, perHour: 4 } });
    for (let i = 0; i < 4; i++) {
      clock.t = T0 + i * 1000;
      const reply = await call(sim, '/v2/actions');
      expect(rate(reply)).toMatchObject({ remaining: 3 - i, reset: seconds(T0 + HOUR) });
    }

    clock.t = T0 + 10 * 60_000;
    const limited = await call(sim, '/v2/actions');
    expect(limited.status).toBe(429);
    expect(rate(limited)).toEqual({ limit: 4, remaining: 0, reset: seconds(T0 + HOUR), retryAfter: null });

    clock.t = T0 + HOUR - 1;
    expect((await call(sim, '/v2/actions')).status).toBe(429);

    // The request made at T0 expires; the window now starts at the one made at T0 + 1s.
    clock.t = T0 + HOUR;
    const back = await call(sim, '/v2/actions');
    expect(back.status).toBe(200);
    expect(rate(back)).toEqual({
      limit: 4,
      remaining: 0,
      reset: seconds(T0 + 1000 + HOUR),
      retryAfter: null,
    });
    const again = await call(sim, '/v2/actions');
    expect(again.status).toBe(429);
    expect(rate(again).reset).toBe(seconds(T0 + 1000 + HOUR));
  });

  it('keeps a budget per token', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, tokens: ['a', 'b'], rateLimit: { perMinute: 2, perHour: 10 } });
    await call(sim, '/v2/actions', { token: 'a' });
    await call(sim, '/v2/actions', { token: 'a' });
    expect((await call(sim, '/v2/actions', { token: 'a' })).status).toBe(429);
    const other = await call(sim, '/v2/actions', { token: 'b' });
    expect(other.status).toBe(200);
    expect(rate(other).remaining).toBe(9);
  });

  it('never refuses when disabled, but still sends headers with a large limit', async () => {
    const sim = await start({ rateLimit: false });
    const replies: Reply[] = [];
    for (let batch = 0; batch < 6; batch++) {
      replies.push(...(await Promise.all(Array.from({ length: 50 }, () => call(sim, '/v2/actions')))));
    }
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const headers = rate(replies[299] as Reply);
    expect(headers.limit).toBeGreaterThanOrEqual(1_000_000);
    expect(headers.remaining).toBe(headers.limit);
    expect(headers.reset).not.toBeNull();
  });
});

describe('faults', () => {
  it('answers the next N matching requests with an injected status, then recovers', async () => {
    const sim = await start();
    const action = sim.createAction({ kind: 'droplet', resourceId: 1 });
    sim.injectFault({ kind: 'status', status: 500, times: 2, method: 'GET', path: /^\/v2\/actions\/\d+$/ });
    expect((await call(sim, '/v2/actions')).status).toBe(200); // path does not match
    const first = await call(sim, `/v2/actions/${action.id}`);
    expect(first.status).toBe(500);
    expect(first.body).toEqual({ id: 'server_error', message: 'Unexpected server-side error' });
    expect((await call(sim, `/v2/actions/${action.id}`)).status).toBe(500);
    expect((await call(sim, `/v2/actions/${action.id}`)).status).toBe(200);
    expect(sim.stats().faultsApplied).toBe(2);
  });

  it('injects each error status with a DigitalOcean body, matched by method', async () => {
    const sim = await start();
    const expected: Record<number, string> = {
      400: 'bad_request',
      403: 'forbidden',
      404: 'not_found',
      422: 'unprocessable_entity',
      502: 'bad_gateway',
      503: 'service_unavailable',
      504: 'gateway_timeout',
    };
    for (const [status, id] of Object.entries(expected)) {
      sim.injectFault({ kind: 'status', status: Number(status), method: 'post' });
      expect((await call(sim, '/v2/actions')).status).toBe(200); // GET: not matched
      const reply = await call(sim, '/v2/droplets/5/actions', { method: 'POST', body: { type: 'reboot' } });
      expect({ status: reply.status, id: reply.body?.id }).toEqual({ status: Number(status), id });
    }
    sim.injectFault({ kind: 'status', status: 502, body: '<html><body>502 Bad Gateway</body></html>' });
    const html = await call(sim, '/v2/actions');
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(html.text).toContain('502 Bad Gateway');
  });

  it('injects 429s with and without retry-after, not counting them', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, rateLimit: { perMinute: 100, perHour: 1000 } });
    sim.injectFault({ kind: 'status', status: 429 });
    sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 7 });
    const plain = await call(sim, '/v2/actions');
    expect(plain.status).toBe(429);
    expect(plain.body).toEqual({ id: 'too_many_requests', message: 'API Rate limit exceeded.' });
    expect(rate(plain)).toMatchObject({ remaining: 0, retryAfter: null });
    const withRetry = await call(sim, '/v2/actions');
    expect(rate(withRetry)).toMatchObject({ remaining: 0, retryAfter: 7 });
    const normal = await call(sim, '/v2/actions');
    expect(normal.status).toBe(200);
    expect(rate(normal).remaining).toBe(999);
    expect(sim.stats().rateLimited).toBe(2);
  });

  it('drops the connection without answering', async () => {
    const sim = await start();
    sim.injectFault({ kind: 'drop', path: '^/v2/actions$' });
    await expect(call(sim, '/v2/actions')).rejects.toThrow();
    expect((await call(sim, '/v2/actions')).status).toBe(200);
    expect(sim.stats().byStatus).toEqual({ dropped: 1, '200': 1 });
  });

  it('sends a malformed JSON body with a 200', async () => {
    const sim = await start();
    const action = sim.createAction({ kind: 'droplet', resourceId: 1 });
    sim.injectFault({ kind: 'malformed-json' });
    const response = await fetch(`${sim.url}/v2/actions/${action.id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    await expect(response.json()).rejects.toThrow(SyntaxError);
  });

  it('sends a 200 whose JSON is not the expected shape', async () => {
    const sim = await start();
    const action = sim.createAction({ kind: 'droplet', resourceId: 1 });
    sim.injectFault({ kind: 'wrong-shape' });
    sim.injectFault({ kind: 'wrong-shape', body: { action: { id: 'not-a-number' } } });
    for (let i = 0; i < 2; i++) {
      const reply = await call(sim, `/v2/actions/${action.id}`);
      expect(reply.status).toBe(200);
      expect(reply.body).toBeTypeOf('object');
      expect(actionResponseSchema.safeParse(reply.body).success).toBe(false);
    }
    expect(actionResponseSchema.safeParse((await call(sim, `/v2/actions/${action.id}`)).body).success).toBe(
      true,
    );
  });

  it('delays an answer, alone or before an injected status', async () => {
    const sim = await start();
    sim.injectFault({ kind: 'delay', delayMs: 250 });
    sim.injectFault({ kind: 'status', status: 503, delayMs: 150 });
    let started = performance.now();
    const slow = await call(sim, '/v2/actions');
    expect(slow.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    started = performance.now();
    expect((await call(sim, '/v2/actions')).status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    started = performance.now();
    expect((await call(sim, '/v2/actions')).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(140);
  });

  it('closes promptly with a slow request still pending, and clearFaults disarms everything', async () => {
    const sim = await start();
    sim.injectFault({ kind: 'drop', times: 10 });
    sim.clearFaults();
    expect((await call(sim, '/v2/actions')).status).toBe(200);

    sim.injectFault({ kind: 'delay', delayMs: 60_000 });
    const pending = call(sim, '/v2/actions').catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(2000);
    await pending;
  });
});
