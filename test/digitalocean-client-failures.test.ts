import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../src/config/secret.js';
import { DigitalOceanClient, type DigitalOceanClientOptions } from '../src/digitalocean/client.js';
import type { Action } from '../src/digitalocean/models.js';
import type { RateLimitSnapshot } from '../src/digitalocean/rate-limit-headers.js';
import { RequestBudget } from '../src/digitalocean/request-budget.js';
import type { RequestGate } from '../src/digitalocean/request-gate.js';
import { BudgetExhaustedError } from '../src/errors/budget-exhausted-error.js';
import {
  ClientError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
} from '../src/errors/digitalocean-api-error.js';
import { Simulator } from '../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix, type Redis } from '../src/support/redis.js';
import { LogCapture, REDIS_URL, testPrefix } from './support/stack.js';

/**
 * Every failure class of the DigitalOcean client over real HTTP against the simulator's injected
 * faults and real rate limiter (and a tiny local server for a body that never finishes), what is
 * retried and how often, and what the rate gate is told: a recording gate, and the real
 * Redis-backed RequestBudget.
 */

const TOKEN = 'dop_v1_failures-test-4d7e21';

/** A RequestGate that grants everything and remembers what the client told it. */
class RecordingGate implements RequestGate {
  acquired = 0;
  readonly observed: RateLimitSnapshot[] = [];
  readonly pauses: Array<{ ms: number; reason: string }> = [];

  async acquire(): Promise<void> {
    this.acquired += 1;
  }

  async observe(snapshot: RateLimitSnapshot): Promise<void> {
    this.observed.push(snapshot);
  }

  async pauseFor(ms: number, reason: string): Promise<void> {
    this.pauses.push({ ms, reason });
  }
}

function client(baseUrl: string, options: Partial<DigitalOceanClientOptions> = {}): DigitalOceanClient {
  return new DigitalOceanClient({ baseUrl, token: new Secret(TOKEN), ...options });
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

let sim: Simulator;
let action: Action;

beforeAll(async () => {
  sim = await Simulator.start({ tokens: [TOKEN], rateLimit: { perMinute: 10_000, perHour: 50_000 } });
  action = sim.createAction({ kind: 'droplet', resourceId: 3164444, durationMs: 600_000 });
});

afterAll(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.clearFaults();
  sim.resetStats();
});

describe('failure classes', () => {
  it('401 is an UnauthorizedError, not retried', async () => {
    const error = await rejectionOf(
      new DigitalOceanClient({ baseUrl: sim.url, token: new Secret('not-a-token') }).getAction(action.id),
    );
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error).toMatchObject({
      kind: 'unauthorized',
      status: 401,
      errorId: 'unauthorized',
      retryable: false,
    });
    expect(sim.stats().byStatus).toEqual({ '401': 1 });
  });

  it('403 is a ForbiddenError, not retried', async () => {
    sim.injectFault({ kind: 'status', status: 403, times: Number.POSITIVE_INFINITY });
    const error = await rejectionOf(client(sim.url).getDropletAction(3164444, action.id));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ kind: 'forbidden', status: 403, errorId: 'forbidden' });
    expect(sim.stats().totalRequests).toBe(1);
  });

  it('404 is a NotFoundError, not retried', async () => {
    const error = await rejectionOf(client(sim.url).getImageAction(1, action.id));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({
      kind: 'not_found',
      status: 404,
      errorId: 'not_found',
      method: 'GET',
      path: `/v2/images/1/actions/${action.id}`,
    });
    expect((error as Error).message).toBe(
      `GET /v2/images/1/actions/${action.id} returned 404: The resource you requested could not be found.`,
    );
    expect(sim.stats().totalRequests).toBe(1);
  });

  it.each([400, 405, 409, 418, 422])('%i is a ClientError, not retried', async (status) => {
    sim.injectFault({ kind: 'status', status, times: Number.POSITIVE_INFINITY });
    const error = await rejectionOf(client(sim.url, { retries: 3 }).getAction(action.id));
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ kind: 'client_error', status, retryable: false });
    expect(sim.stats().totalRequests).toBe(1);
  });

  it('429 with retry-after: RateLimitedError waiting retry-after, the gate paused, not retried', async () => {
    const gate = new RecordingGate();
    sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 7 });
    const error = await rejectionOf(client(sim.url, { gate }).getAction(action.id));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ kind: 'rate_limited', status: 429, waitMs: 7_000, retryable: true });
    expect((error as RateLimitedError).rateLimit).toMatchObject({ remaining: 0, retryAfterMs: 7_000 });
    expect(gate.pauses).toEqual([{ ms: 7_000, reason: expect.stringContaining('retry-after') }]);
    expect(sim.stats().totalRequests).toBe(1);
  });

  it("429 from the simulator's per-minute limit carries retry-after; the wait follows it", async () => {
    const limited = await Simulator.start({ tokens: [TOKEN], rateLimit: { perMinute: 2, perHour: 100 } });
    try {
      const gate = new RecordingGate();
      const api = client(limited.url, { gate });
      const created = limited.createAction({ kind: 'droplet', resourceId: 1 });
      await api.getAction(created.id);
      await api.getAction(created.id);
      const error = await rejectionOf(api.getAction(created.id));
      expect(error).toBeInstanceOf(RateLimitedError);
      const { waitMs } = error as RateLimitedError;
      expect(waitMs).toBeGreaterThan(58_000);
      expect(waitMs).toBeLessThanOrEqual(60_000);
      expect(gate.pauses).toEqual([{ ms: waitMs, reason: expect.stringContaining('retry-after') }]);
      expect(limited.stats().rateLimited).toBe(1);
    } finally {
      await limited.close();
    }
  });

  it('429 without retry-after (the hourly limit): the wait runs until ratelimit-reset', async () => {
    const limited = await Simulator.start({ tokens: [TOKEN], rateLimit: { perMinute: 100, perHour: 2 } });
    try {
      const gate = new RecordingGate();
      const api = client(limited.url, { gate });
      const created = limited.createAction({ kind: 'droplet', resourceId: 1 });
      const firstAt = Date.now();
      await api.getAction(created.id);
      await api.getAction(created.id);
      const error = await rejectionOf(api.getAction(created.id));
      expect(error).toBeInstanceOf(RateLimitedError);
      const { waitMs, rateLimit } = error as RateLimitedError;
      expect(rateLimit.retryAfterMs).toBeUndefined();
      // The oldest counted request expires an hour after it was made (reset is in whole seconds).
      expect(rateLimit.resetAtMs).toBeGreaterThanOrEqual(firstAt + 3_600_000 - 1_000);
      expect(rateLimit.resetAtMs).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1_000);
      expect(Math.abs(waitMs - ((rateLimit.resetAtMs ?? 0) - Date.now()))).toBeLessThan(1_000);
      expect(gate.pauses).toEqual([{ ms: waitMs, reason: expect.stringContaining('ratelimit-reset') }]);
    } finally {
      await limited.close();
    }
  });

  it.each([500, 502, 503, 504])('%i is transient: retried, then the success is returned', async (status) => {
    const gate = new RecordingGate();
    const logs = new LogCapture('debug');
    sim.injectFault({ kind: 'status', status, times: 2 });
    const got = await client(sim.url, { gate, retries: 3, logger: logs.logger }).getAction(action.id);
    expect(got.id).toBe(action.id);
    expect(sim.stats().byStatus).toEqual({ [String(status)]: 2, '200': 1 });
    expect(gate.acquired).toBe(3);
    expect(logs.find((line) => line.msg === 'transient failure, retrying')).toHaveLength(2);
  });

  it('a persistent 5xx is a TransientError after retries + 1 attempts', async () => {
    sim.injectFault({ kind: 'status', status: 503, times: Number.POSITIVE_INFINITY });
    const error = await rejectionOf(client(sim.url, { retries: 2 }).getAction(action.id));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({
      kind: 'transient',
      status: 503,
      errorId: 'service_unavailable',
      retryable: true,
    });
    expect(sim.stats().byStatus).toEqual({ '503': 3 });

    sim.resetStats();
    await expect(client(sim.url, { retries: 2 }).getAction(action.id, { retries: 0 })).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(sim.stats().totalRequests).toBe(1);
  });

  it('a 502 with an HTML body is still transient', async () => {
    sim.injectFault({ kind: 'status', status: 502, body: '<html>Bad Gateway</html>' });
    const error = await rejectionOf(client(sim.url, { retries: 0 }).getAction(action.id));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ status: 502, errorId: undefined });
  });

  it('a dropped connection is transient: retried, and a TransientError when it keeps happening', async () => {
    sim.injectFault({ kind: 'drop' });
    expect((await client(sim.url, { retries: 2 }).getAction(action.id)).id).toBe(action.id);
    expect(sim.stats().byStatus).toEqual({ dropped: 1, '200': 1 });

    sim.resetStats();
    sim.injectFault({ kind: 'drop', times: Number.POSITIVE_INFINITY });
    const error = await rejectionOf(client(sim.url, { retries: 2 }).getAction(action.id));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ status: undefined, method: 'GET', path: `/v2/actions/${action.id}` });
    expect((error as Error).message).toMatch(/ECONNRESET|socket hang up/);
    expect(sim.stats().byStatus).toEqual({ dropped: 3 });
  });

  it('a refused connection is transient', async () => {
    const error = await rejectionOf(client('http://127.0.0.1:9', { retries: 1 }).getAction(1));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('a server slower than timeoutMs is a timeout: transient, retried, then a TransientError', async () => {
    sim.injectFault({ kind: 'delay', delayMs: 5_000, times: Number.POSITIVE_INFINITY });
    const started = Date.now();
    const error = await rejectionOf(client(sim.url, { timeoutMs: 250, retries: 1 }).getAction(action.id));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/timed out/);
    expect(sim.stats().faultsApplied).toBe(2);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('the timeout bounds the whole response, not just the wait between bytes', async () => {
    const body = JSON.stringify({ action: { ...action, id: 1 } });
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const drip = setInterval(() => {
        if (response.destroyed) return clearInterval(drip);
        response.write(body.slice(sent, sent + 8));
        sent += 8;
        if (sent >= body.length) {
          clearInterval(drip);
          response.end();
        }
      }, 100);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const started = Date.now();
      const api = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
        timeoutMs: 400,
        retries: 0,
      });
      const error = await rejectionOf(api.getAction(1));
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/timed out/);
      // The whole body takes about 5 s to arrive.
      expect(Date.now() - started).toBeLessThan(2_500);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it.each([
    ['malformed JSON', { kind: 'malformed-json' }],
    ['valid JSON of the wrong shape', { kind: 'wrong-shape' }],
    ['an action without an id', { kind: 'wrong-shape', body: { action: { status: 'completed' } } }],
    [
      'an action whose id is a string',
      { kind: 'wrong-shape', body: { action: { id: '7', status: 'completed' } } },
    ],
  ] as const)('a 200 with %s is transient: retried, then a TransientError', async (_name, fault) => {
    sim.injectFault({ ...fault, times: 1 });
    expect((await client(sim.url, { retries: 1 }).getAction(action.id)).id).toBe(action.id);
    expect(sim.stats().byStatus).toEqual({ '200': 2 });

    sim.resetStats();
    sim.injectFault({ ...fault, times: Number.POSITIVE_INFINITY });
    const error = await rejectionOf(client(sim.url, { retries: 1 }).getAction(action.id));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ status: 200 });
    // An `action` that is not a valid one is named as such (and counted as a mismatch by polls).
    expect((error as Error).message).toMatch(/not the expected JSON|with a malformed action/);
    expect(sim.stats().byStatus).toEqual({ '200': 2 });
  });

  it('a list page of the wrong shape is transient too', async () => {
    sim.injectFault({ kind: 'wrong-shape', body: { actions: 'none' }, times: Number.POSITIVE_INFINITY });
    await expect(client(sim.url, { retries: 0 }).listDropletActions(3164444)).rejects.toBeInstanceOf(
      TransientError,
    );
  });

  it('maxRetryTimeMs bounds the retrying of one call', async () => {
    sim.injectFault({ kind: 'status', status: 500, times: Number.POSITIVE_INFINITY });
    const started = Date.now();
    const error = await rejectionOf(
      client(sim.url, { retries: 50, maxRetryTimeMs: 700 }).getAction(action.id),
    );
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(TransientError);
    expect(elapsed).toBeGreaterThanOrEqual(650);
    expect(elapsed).toBeLessThan(2_500);
    expect(sim.stats().totalRequests).toBeLessThan(8);
  });
});

describe('rate-limit headers and the gate', () => {
  it('parses the ratelimit-* headers of every response, success or failure, and feeds each to the gate', async () => {
    const gate = new RecordingGate();
    const api = client(sim.url, { gate, retries: 0 });
    const errors: unknown[] = [];
    const record = (call: Promise<unknown>) => call.catch((error: unknown) => errors.push(error));

    await api.getAction(action.id);
    await record(api.getAction(1));
    sim.injectFault({ kind: 'status', status: 500 });
    await record(api.getAction(action.id));
    sim.injectFault({ kind: 'status', status: 429 });
    await record(api.getAction(action.id));
    await record(api.initiateImageAction(5, { type: 'transfer', region: 'nowhere' }));
    sim.injectFault({ kind: 'drop' });
    await record(api.getAction(action.id));

    // The simulator's own request count before this test is unknown: compare differences.
    const remaining = gate.observed.map((snapshot) => snapshot.remaining);
    expect(gate.observed).toHaveLength(5);
    const first = remaining[0] ?? 0;
    expect(remaining).toEqual([first, first - 1, first - 2, 0, first - 3]);
    for (const snapshot of gate.observed) {
      expect(snapshot.limit).toBe(50_000);
      expect(Number.isInteger((snapshot.resetAtMs ?? 0.5) / 1000)).toBe(true);
      expect(snapshot.resetAtMs).toBeGreaterThan(Date.now() - 3_600_000);
    }
    expect(gate.acquired).toBe(6);
    expect(errors.map((error) => (error as Error).constructor.name)).toEqual([
      'NotFoundError',
      'TransientError',
      'RateLimitedError',
      'ClientError',
      'TransientError',
    ]);
    for (const [index, error] of errors.slice(0, 4).entries()) {
      expect((error as TransientError).rateLimit).toEqual(gate.observed[index + 1]);
    }
    expect(api.rateLimit).toMatchObject(gate.observed[4] ?? {});
  });

  it("client.rateLimit is the latest response's: a retry-after does not outlive its 429", async () => {
    const api = client(sim.url);
    sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 5 });
    await expect(api.getAction(action.id)).rejects.toBeInstanceOf(RateLimitedError);
    expect(api.rateLimit).toMatchObject({ remaining: 0, retryAfterMs: 5_000 });

    await api.getAction(action.id);
    expect(api.rateLimit.retryAfterMs).toBeUndefined();
    expect(api.rateLimit.remaining).toBeGreaterThan(0);
  });

  describe('with the real RequestBudget on Redis', () => {
    let redis: Redis;
    const prefix = testPrefix('do-client-budget');

    beforeAll(() => {
      redis = createRedis(REDIS_URL);
    });

    afterAll(async () => {
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
    });

    function budget(profile: string, perMinute = 100): RequestBudget {
      return new RequestBudget(redis, { prefix, profile, perMinute, perHour: 1_000, headroom: 0 });
    }

    it('counts every request, retries included, and stores the observed headers', async () => {
      const gate = budget('counted');
      const api = client(sim.url, { gate, retries: 3 });
      await api.getAction(action.id);
      sim.injectFault({ kind: 'status', status: 503, times: 2 });
      await api.getDropletAction(3164444, action.id);

      const usage = await gate.usage();
      expect(usage.minute.used).toBe(4);
      expect(usage.hour.used).toBe(4);
      expect(sim.stats().totalRequests).toBe(4);
      expect(usage.lastRemaining).toBe(api.rateLimit.remaining);
      expect(usage.lastResetAtMs).toBe(api.rateLimit.resetAtMs);
      expect(usage.grantedSinceObservation).toBe(0);
    });

    it('a spent budget throws BudgetExhaustedError and sends nothing', async () => {
      const gate = budget('spent', 2);
      const api = client(sim.url, { gate, budgetWaitMs: 500 });
      await api.getAction(action.id);
      await api.getAction(action.id);
      const before = sim.stats().totalRequests;

      const error = await rejectionOf(api.getAction(action.id));
      expect(error).toBeInstanceOf(BudgetExhaustedError);
      expect(error).toMatchObject({ reason: 'minute' });
      expect((error as BudgetExhaustedError).waitMs).toBeGreaterThan(500);
      expect(sim.stats().totalRequests).toBe(before);
      expect((await gate.usage()).minute.used).toBe(2);
    });

    it('a 429 pauses every user of the budget, so the next call sends nothing', async () => {
      const gate = budget('paused');
      const api = client(sim.url, { gate });
      sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 30 });
      await expect(api.getAction(action.id)).rejects.toBeInstanceOf(RateLimitedError);
      expect((await gate.usage()).pausedUntil).toBeGreaterThan(Date.now() + 28_000);

      const other = client(sim.url, { gate: budget('paused') });
      const error = await rejectionOf(other.getAction(action.id));
      expect(error).toBeInstanceOf(BudgetExhaustedError);
      // The 429 also said `ratelimit-remaining: 0`; whichever wait is longer is the one reported.
      expect(['paused', 'remaining']).toContain((error as BudgetExhaustedError).reason);
      expect((error as BudgetExhaustedError).waitMs).toBeGreaterThan(28_000);
      expect(sim.stats().totalRequests).toBe(1);
    });
  });
});
