import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/http/server.js';
import { Metrics } from '../src/metrics/metrics.js';
import { createRedis } from '../src/support/redis.js';
import { SseClient } from './support/sse-client.js';
import { REDIS_TARGET, type Stack, startStack, until } from './support/stack.js';

const API_TOKEN = 'socket-suite-token-9876543210';
const AUTH = { authorization: `Bearer ${API_TOKEN}` };

function sample(text: string, series: string): number {
  const escaped = series.replace(/[{}"=,.\\[\]]/g, (char) => `\\${char}`);
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return match === null ? 0 : Number(match[1]);
}

function total(text: string, family: string): number {
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${family}(\\{[^}]*\\})? (\\S+)$`, 'gm')))
    sum += Number(match[2]);
  return sum;
}

describe('HTTP API over a real socket (fetch, SSE, long-poll, metrics)', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let base: string;
  const clients: SseClient[] = [];

  async function api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${base}${path}`, {
      method,
      headers: { ...AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function open(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await SseClient.open(`${base}${path}`, { ...AUTH, ...headers });
    clients.push(client);
    return client;
  }

  /** Starts a simulated action and watches it; resolves with the watch id. */
  async function watchAction(
    resourceId: number,
    options: { durationMs?: number; result?: 'completed' | 'errored' } = {},
  ): Promise<string> {
    const action = stack.simulator.createAction({
      kind: 'droplet',
      resourceId,
      durationMs: options.durationMs ?? 200,
      ...(options.result === undefined ? {} : { result: options.result }),
    });
    const response = await api('POST', '/v1/watches', { kind: 'droplet', resourceId, actionId: action.id });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  }

  beforeAll(async () => {
    stack = await startStack({
      name: 'http-socket',
      simulator: { rateLimit: { perMinute: 10_000, perHour: 100_000 } },
      env: { API_TOKEN },
    });
    const metrics = new Metrics();
    await stack.runtime.startWorker({ metrics, concurrency: 8 });
    app = await buildServer(stack.runtime, { metrics, heartbeatMs: 300, progressMs: 250 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await app?.close();
    await stack?.close();
  });

  it('refuses requests without the token over the socket', async () => {
    const response = await fetch(`${base}/v1/watches`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await response.json()).toMatchObject({ error: 'unauthorized' });
    const events = await fetch(`${base}/v1/events`, { headers: { authorization: 'Bearer nope' } });
    expect(events.status).toBe(401);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('long-polls a watch until its outcome, and answers 202 at the timeout', async () => {
    const slow = await watchAction(1, { durationMs: 60_000 });
    const timedOut = await api('GET', `/v1/watches/${slow}/wait?timeout=500ms`);
    expect(timedOut.status).toBe(202);
    expect(await timedOut.json()).toMatchObject({ id: slow, state: 'waiting' });

    const id = await watchAction(2, { durationMs: 800 });
    const started = Date.now();
    const response = await api('GET', `/v1/watches/${id}/wait?timeout=20s`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id,
      state: 'done',
      outcome: 'completed',
      action: { status: 'completed' },
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('streams outcomes as SSE with stream ids, and resumes after Last-Event-ID without loss or repeats', async () => {
    const first = await open('/v1/events');
    expect(first.response.status).toBe(200);
    expect(first.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const early = [await watchAction(11), await watchAction(12)];
    await until(() => (first.messages.length >= 2 ? true : undefined));
    expect(first.watchIds().sort()).toEqual([...early].sort());
    const [one, two] = first.messages;
    expect(one?.event).toBe('action.completed');
    expect(one?.data).toMatchObject({ type: 'action.completed', outcome: 'completed' });
    // SSE ids are the Redis stream ids.
    const streamIds = (await stack.runtime.redis.xrange(`${stack.prefix}:events`, '-', '+')).map(
      ([id]) => id,
    );
    expect(streamIds).toEqual(expect.arrayContaining([one?.id, two?.id]));
    first.close();
    await until(() => (first.ended ? true : undefined));

    // Missed while disconnected:
    const missed = [await watchAction(13), await watchAction(14)];
    for (const id of missed) await stack.runtime.waitForOutcome(id, { timeoutMs: 10_000 });

    const resumed = await open('/v1/events', { 'last-event-id': two?.id ?? '' });
    await until(() => (resumed.messages.length >= 2 ? true : undefined));
    const live = await watchAction(15);
    await until(() => (resumed.messages.length >= 3 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(resumed.watchIds()).toEqual([...resumed.watchIds().slice(0, 2), live]);
    expect(resumed.watchIds().slice(0, 2).sort()).toEqual([...missed].sort());
    const ids = [...first.messages, ...resumed.messages].map((message) => message.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => compareStreamIds(a, b))).toEqual(ids);

    // The query parameter does the same for clients that cannot set the header.
    const byQuery = await open(`/v1/events?lastEventId=${encodeURIComponent(two?.id ?? '')}`);
    await until(() => (byQuery.messages.length >= 3 ? true : undefined));
    expect(byQuery.watchIds()).toEqual(resumed.watchIds());
  });

  it('filters by type and keeps quiet streams alive with heartbeats', async () => {
    const errors = await open('/v1/events?type=action.errored,action.timed_out');
    const everything = await open('/v1/events');
    const fine = await watchAction(21, { durationMs: 100 });
    await stack.runtime.waitForOutcome(fine, { timeoutMs: 10_000 });
    const broken = await watchAction(22, { durationMs: 100, result: 'errored' });
    await until(() => (errors.messages.length >= 1 ? true : undefined));
    await until(() => (everything.messages.length >= 2 ? true : undefined));
    expect(errors.messages.map((message) => [message.event, message.data.watch.id])).toEqual([
      ['action.errored', broken],
    ]);
    expect(everything.watchIds()).toEqual([fine, broken]);
    await until(() => (errors.comments.includes('heartbeat') ? true : undefined), 3_000);
  });

  it('follows ?watch= watches with watch.progress events, eta included, until each ends with its outcome', async () => {
    const slow = await watchAction(31, { durationMs: 600_000 });
    const stream = await open(`/v1/events?type=action.completed&watch=${slow}`);
    const progressOf = () => stream.messages.filter((message) => message.event === 'watch.progress');
    await until(() => (progressOf().length >= 2 ? true : undefined));
    const [first] = progressOf();
    // Not part of the events stream: no id, so Last-Event-ID stays the last outcome's.
    expect(first?.id).toBe('');
    const watch = first?.data as unknown as { id: string; state: string; eta: string; etaBasis: string };
    expect(watch).toMatchObject({ id: slow, state: 'waiting', etaBasis: expect.any(String) });
    expect(Date.parse(watch.eta)).toBeGreaterThan(Date.now() - 60_000);

    stack.simulator.finishAction(Number(slow.split('-').at(-1)), 'completed');
    await until(() =>
      stream.messages.some(
        (message) => message.event === 'action.completed' && message.data.watch.id === slow,
      )
        ? true
        : undefined,
    );
    // A tick that read the watch just before its outcome may still send one; then none.
    const atOutcome = progressOf().length;
    const heartbeats = () => stream.comments.filter((comment) => comment === 'heartbeat').length;
    const settle = async () => {
      const from = heartbeats();
      await until(() => (heartbeats() >= from + 2 ? true : undefined), 5_000);
    };
    await settle();
    const after = progressOf().length;
    expect(after - atOutcome).toBeLessThanOrEqual(1);
    await settle();
    expect(progressOf().length).toBe(after);
  });

  it.each([
    ['a malformed id', 'watch=droplet-1', /query parameter watch: "droplet-1" is not a watch id/],
    [
      '101 ids',
      `watch=${Array.from({ length: 101 }, (_, i) => `droplet-1-${i + 1}`).join(',')}`,
      /at most 100 watches/,
    ],
  ])('refuses ?watch= with %s: a 400 naming the problem', async (_case, query, message) => {
    const response = await api('GET', `/v1/events?${query}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(message);
  });

  it('keeps webhook URLs out of the stream', async () => {
    const stream = await open('/v1/events');
    const action = stack.simulator.createAction({ kind: 'image', resourceId: 31, durationMs: 100 });
    const created = await api('POST', '/v1/watches', {
      kind: 'image',
      resourceId: 31,
      actionId: action.id,
      webhooks: [{ url: 'https://93.184.215.14/secret-path', on: ['errored'] }],
    });
    expect(created.status).toBe(201);
    await until(() => (stream.messages.length >= 1 ? true : undefined));
    expect(stream.messages[0]?.data.watch.id).toBe(`image-31-${action.id}`);
    expect(stream.messages[0]?.data.webhooks).toBeUndefined();
  });

  it('frees the waiter of a long-poll and the stream of a client that went away, at once', async () => {
    const feed = stack.runtime.events;
    const before = feed.stats(); // streams the tests above left open
    const slow = await watchAction(51, { durationMs: 60_000 });
    const client = new AbortController();
    const wait = fetch(`${base}/v1/watches/${slow}/wait?timeout=60s`, {
      headers: AUTH,
      signal: client.signal,
    });
    const stream = await open('/v1/events');
    await until(() => {
      const now = feed.stats();
      return now.waiters === before.waiters + 1 && now.streams === before.streams + 1 ? true : undefined;
    });
    // Both share the process's one blocking connection.
    expect(await blockingReads(stack)).toHaveLength(1);
    client.abort();
    stream.close();
    await expect(wait).rejects.toThrow();
    await until(() => {
      const now = feed.stats();
      return now.waiters === before.waiters && now.streams === before.streams ? true : undefined;
    }, 2_000);
    expect(feed.stats().dropped).toBe(before.dropped);
  });

  it('moves the metrics when a watch completes', async () => {
    const scrape = async () => {
      const response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
    const before = await scrape();
    const id = await watchAction(41, { durationMs: 600 });
    const done = await api('GET', `/v1/watches/${id}/wait?timeout=20s`);
    expect(done.status).toBe(200);
    // The worker's event about an outcome can come a moment after the outcome is readable.
    const outcomes = 'actionwatch_outcomes_total{outcome="completed"}';
    const after = await until(async () => {
      const text = await scrape();
      return sample(text, outcomes) > sample(before, outcomes) ? text : undefined;
    });

    expect(total(after, 'actionwatch_polls_total')).toBeGreaterThan(total(before, 'actionwatch_polls_total'));
    expect(sample(after, 'actionwatch_polls_total{result="completed"}')).toBeGreaterThan(
      sample(before, 'actionwatch_polls_total{result="completed"}'),
    );
    expect(sample(after, 'actionwatch_digitalocean_responses_total{status="200"}')).toBeGreaterThan(
      sample(before, 'actionwatch_digitalocean_responses_total{status="200"}'),
    );
    expect(sample(after, 'actionwatch_detection_latency_seconds_count{outcome="completed"}')).toBeGreaterThan(
      sample(before, 'actionwatch_detection_latency_seconds_count{outcome="completed"}'),
    );
    // Polls are at most POLL_MAX_INTERVAL (1 s here) apart, so detection is well under 5 s.
    expect(sample(after, 'actionwatch_detection_latency_seconds_bucket{le="5",outcome="completed"}')).toBe(
      sample(after, 'actionwatch_detection_latency_seconds_count{outcome="completed"}'),
    );
    // The simulator counts down from its hourly limit of 100,000 with every request.
    const remaining = sample(after, 'actionwatch_digitalocean_ratelimit_remaining');
    expect(remaining).toBeGreaterThan(99_000);
    expect(remaining).toBeLessThan(100_000);
    expect(sample(after, 'actionwatch_watches{state="done"}')).toBeGreaterThan(
      sample(before, 'actionwatch_watches{state="done"}'),
    );
    expect(after).toMatch(/^actionwatch_queue_jobs\{queue="watches",state="completed"\} [1-9]/m);
  });
});

describe('closing the server', () => {
  it('ends open event streams and answers open long-polls, promptly', async () => {
    const stack = await startStack({ name: 'http-close', env: { API_TOKEN } });
    try {
      const app = await buildServer(stack.runtime);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 1, durationMs: 60_000 });
      await fetch(`${base}/v1/watches`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'droplet', resourceId: 1, actionId: action.id }),
      });
      const stream = await SseClient.open(`${base}/v1/events`, AUTH);
      const wait = fetch(`${base}/v1/watches/droplet-1-${action.id}/wait?timeout=60s`, { headers: AUTH });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      await app.close();
      expect(Date.now() - started).toBeLessThan(3_000);
      const answered = await wait;
      expect(answered.status).toBe(202);
      await until(() => (stream.ended ? true : undefined), 3_000);
      // Nothing is left waiting; the feed's one connection stays until the Runtime closes.
      expect(stack.runtime.events.stats()).toMatchObject({ waiters: 0, streams: 0 });
      expect(await blockingReads(stack)).toHaveLength(1);
      await stack.runtime.close();
      await until(async () => ((await blockingReads(stack)).length === 0 ? true : undefined), 2_000);
    } finally {
      await stack.close();
    }
  });
});

/** The Redis connections of this stack's prefix blocked in (or last used for) XREAD. */
async function blockingReads(stack: Stack): Promise<string[]> {
  const cleaner = createRedis(REDIS_TARGET);
  try {
    const list = (await cleaner.client('LIST')) as string;
    return list
      .split('\n')
      .filter((line) => line.includes(`name=${stack.prefix}:`) && line.includes('cmd=xread'));
  } finally {
    cleaner.disconnect();
  }
}

function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am === bm ? as - bs : am - bm;
}
