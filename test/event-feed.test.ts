import { getEventListeners, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClosedError } from '../src/errors/feed-closed-error.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logging/logger.js';
import { EventFeed } from '../src/notifications/event-feed.js';
import { createRedis } from '../src/support/redis.js';
import { eventsKey, outcomeKey } from '../src/watches/keys.js';
import type { Watch } from '../src/watches/watch.js';
import { RestartableRedis } from './support/private-redis.js';
import { SseClient } from './support/sse-client.js';
import {
  REDIS_TARGET,
  REDIS_URL,
  type Stack,
  startStack,
  testPrefix,
  until,
  urlTarget,
} from './support/stack.js';

const API_TOKEN = 'feed-suite-token-0123456789';
const AUTH = { authorization: `Bearer ${API_TOKEN}` };

/** The Redis connections opened under `prefix` (every connection of ours is named after it). */
async function connectionsOf(redisUrl: string, prefix: string): Promise<string[]> {
  const admin = createRedis(urlTarget(redisUrl));
  try {
    const list = (await admin.client('LIST')) as string;
    return list.split('\n').filter((line) => line.includes(`name=${prefix}:`));
  } finally {
    admin.disconnect();
  }
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: { ...AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Watches `count` droplet actions through the API (no worker: they stay waiting until ended). */
async function watchMany(base: string, resourceId: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1000) {
    const watches = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({
      kind: 'droplet',
      resourceId,
      actionId: start + i + 1,
    }));
    const response = await api(base, 'POST', '/v1/watches/batch', { watches });
    expect(response.status).toBe(201);
    const { results } = (await response.json()) as { results: Array<{ watch: Watch }> };
    ids.push(...results.map((result) => result.watch.id));
  }
  return ids;
}

/** A long-poll, resolved with its status and body (or the error that ended it). */
function longPoll(base: string, id: string, timeout = '60s', signal?: AbortSignal) {
  return fetch(`${base}/v1/watches/${id}/wait?timeout=${timeout}`, {
    headers: AUTH,
    ...(signal === undefined ? {} : { signal }),
  }).then(async (response) => ({ status: response.status, watch: (await response.json()) as Watch }));
}

/** An outcome event as the outcome store writes it, with `padding` bytes in the action. */
function outcomeFields(watchId: string, padding = 0, enqueuedAt = new Date().toISOString()): string[] {
  const now = new Date().toISOString();
  const record = {
    type: 'action.completed',
    outcome: 'completed',
    watch: {
      id: watchId,
      kind: 'droplet',
      resourceId: 1,
      actionId: 1,
      enqueuedAt,
      finishedAt: now,
      polls: 1,
    },
    action: { id: 1, status: 'completed', note: 'x'.repeat(padding) },
  };
  return ['type', 'action.completed', 'watch', watchId, 'data', JSON.stringify(record)];
}

describe('one event feed per process', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    stack = await startStack({ name: 'event-feed', env: { API_TOKEN } });
    app = await buildServer(stack.runtime, { heartbeatMs: 500 });
    base = await listen(app);
  });

  afterAll(async () => {
    await app?.close();
    await stack?.close();
  });

  it('answers 2,000 concurrent long-polls with their true outcomes over a fixed number of Redis connections', async () => {
    const ids = await watchMany(base, 100, 2000);
    // The feed starts with the first wait: count connections once it reads.
    await stack.runtime.events.start();
    const idle = await connectionsOf(REDIS_URL, stack.prefix);

    const polls = ids.map((id) => longPoll(base, id));
    const streams = await Promise.all(
      Array.from({ length: 20 }, () => SseClient.open(`${base}/v1/events`, AUTH)),
    );
    await until(() => (stack.runtime.events.stats().waiters === ids.length ? true : undefined), 60_000);
    await until(() => (stack.runtime.events.stats().streams >= 20 ? true : undefined));
    const busy = await connectionsOf(REDIS_URL, stack.prefix);
    expect(busy.length).toBe(idle.length);
    expect(busy.length).toBeLessThanOrEqual(10);
    expect(busy.filter((line) => line.includes('cmd=xread'))).toHaveLength(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^actionwatch_event_feed_waiters ${ids.length}$`, 'm'));
    expect(metrics).toMatch(/^actionwatch_event_feed_streams (2\d)$/m);
    expect(metrics).toMatch(/^actionwatch_event_feed_lag_seconds \d/m);

    // Ending a watch records its outcome (cancelled) and its event, as a worker's outcome would.
    for (let start = 0; start < ids.length; start += 200) {
      await Promise.all(ids.slice(start, start + 200).map((id) => stack.runtime.watches.cancel(id)));
    }
    const answers = await Promise.all(polls);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(answers.map((answer) => answer.watch.id)).toEqual(ids);
    expect(answers.every((answer) => answer.watch.outcome === 'cancelled')).toBe(true);
    // Every stream got every outcome, in stream order.
    await until(
      () => (streams.every((stream) => stream.messages.length >= ids.length) ? true : undefined),
      30_000,
    );
    for (const stream of streams) {
      expect(stream.watchIds().sort()).toEqual([...ids].sort());
      stream.close();
    }
    expect(stack.runtime.events.stats().waiters).toBe(0);
  }, 180_000);

  it('answers at once when the outcome was recorded before the wait, even with its event trimmed away', async () => {
    const [id] = await watchMany(base, 200, 1);
    await stack.runtime.watches.cancel(id as string);
    await stack.runtime.redis.xtrim(eventsKey(stack.prefix), 'MAXLEN', 0);
    const started = Date.now();
    const answer = await longPoll(base, id as string, '20s');
    expect(answer.status).toBe(200);
    expect(answer.watch).toMatchObject({ id, state: 'done', outcome: 'cancelled' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await stack.runtime.waitForOutcome(id as string, { timeoutMs: 1_000 }))?.outcome).toBe(
      'cancelled',
    );
  });

  it('answers from the event of the watch it waits on, never from that of an earlier watch of the action', async () => {
    const id = 'droplet-600-1';
    const key = eventsKey(stack.prefix);
    const feed = stack.runtime.events;
    let settled = false;
    const wait = stack.runtime
      .waitForOutcome(id, { enqueuedAt: '2026-01-02T00:00:00.000Z', timeoutMs: 20_000 })
      .finally(() => {
        settled = true;
      });
    await until(() => (feed.stats().waiters >= 1 ? true : undefined));
    const before = feed.stats().dispatched;
    await stack.runtime.redis.xadd(key, '*', ...outcomeFields(id, 0, '2026-01-01T00:00:00.000Z'));
    await until(() => (feed.stats().dispatched > before ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    // No stored outcome at all: the matching event is the answer.
    await stack.runtime.redis.xadd(key, '*', ...outcomeFields(id, 0, '2026-01-02T00:00:00.000Z'));
    expect((await wait)?.watch).toMatchObject({ id, enqueuedAt: '2026-01-02T00:00:00.000Z' });
  });

  it('drops a slow SSE reader when its buffer passes the limit, without holding up the others', async () => {
    const limited = await buildServer(stack.runtime, { maxBufferedBytes: 64 * 1024 });
    const limitedBase = await listen(limited);
    try {
      const before = stack.runtime.events.stats();
      const fast = await SseClient.open(`${limitedBase}/v1/events`, AUTH);
      // A client that reads its headers and then stops reading.
      const { port } = new URL(limitedBase);
      const slow = connect(Number(port), '127.0.0.1');
      slow.write(`GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${API_TOKEN}\r\n\r\n`);
      await once(slow, 'data');
      slow.pause();
      await until(() => (stack.runtime.events.stats().streams === before.streams + 2 ? true : undefined));

      const [id] = await watchMany(base, 300, 1);
      const wait = longPoll(base, id as string, '30s');
      await until(() => (stack.runtime.events.stats().waiters === before.waiters + 1 ? true : undefined));
      // Events of 100 KB, one at a time, until the slow reader's socket buffers and then its
      // 64 KiB allowance are full: a reader that keeps up takes each before the next.
      const key = eventsKey(stack.prefix);
      const big: string[] = [];
      while (stack.runtime.events.stats().dropped === before.dropped && big.length < 1000) {
        const watchId = `droplet-301-${big.length + 1}`;
        big.push(watchId);
        await stack.runtime.redis.xadd(key, '*', ...outcomeFields(watchId, 100_000));
        await until(() => (fast.messages.length >= big.length ? true : undefined));
      }
      expect(stack.runtime.events.stats().dropped).toBe(before.dropped + 1);
      await stack.runtime.watches.cancel(id as string);
      expect((await wait).watch).toMatchObject({ id, outcome: 'cancelled' });
      await until(() => (fast.messages.length >= big.length + 1 ? true : undefined));
      expect(fast.watchIds()).toEqual([...big, id]);
      expect(fast.ended).toBe(false);
      // The slow client finds its stream closed once it reads again.
      slow.resume();
      await once(slow, 'end');
      slow.destroy();
      fast.close();
      const metrics = await (await fetch(`${limitedBase}/metrics`)).text();
      expect(metrics).toMatch(/^actionwatch_event_feed_streams_dropped_total [1-9]/m);
      expect(metrics).toMatch(/^actionwatch_event_feed_events_total [1-9]/m);
    } finally {
      await limited.close();
    }
  }, 60_000);

  it('answers every open long-poll with 202 and the watch as it is, and ends every stream, at shutdown', async () => {
    const closing = await buildServer(stack.runtime);
    const closingBase = await listen(closing);
    const ids = await watchMany(closingBase, 400, 300);
    const polls = ids.map((id) => longPoll(closingBase, id));
    const streams = await Promise.all(
      Array.from({ length: 10 }, () => SseClient.open(`${closingBase}/v1/events`, AUTH)),
    );
    const before = stack.runtime.events.stats();
    await until(() => (stack.runtime.events.stats().waiters >= ids.length ? true : undefined), 30_000);
    const started = Date.now();
    await closing.close();
    expect(Date.now() - started).toBeLessThan(10_000);
    const answers = await Promise.all(polls);
    expect(answers.every((answer) => answer.status === 202 && answer.watch.state === 'waiting')).toBe(true);
    expect(answers.map((answer) => answer.watch.id)).toEqual(ids);
    await until(() => (streams.every((stream) => stream.ended) ? true : undefined), 5_000);
    expect(stack.runtime.events.stats().waiters).toBe(0);
    expect(stack.runtime.events.stats().streams).toBeLessThan(before.streams);
  }, 60_000);
});

/** A TCP pass-through that can hold what a client sends, to stall one connection on purpose. */
class HoldingProxy {
  held = false;
  private readonly pending: Array<{ socket: Socket; chunk: Buffer }> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number): Promise<HoldingProxy> {
    let proxy: HoldingProxy | undefined;
    const server = createServer((client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      client.on('data', (chunk: Buffer) => {
        if (proxy?.held) proxy.pending.push({ socket: upstream, chunk });
        else upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new HoldingProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  get heldChunks(): number {
    return this.pending.length;
  }

  release(): void {
    this.held = false;
    for (const { socket, chunk } of this.pending.splice(0)) socket.write(chunk);
  }

  close(): void {
    this.server.close();
  }
}

describe('waits that share one abort signal', () => {
  it('gives a signal shared by many waits one abort listener, and aborts every wait through it', async () => {
    const stack = await startStack({ name: 'event-feed-shared-signal' });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const stop = new AbortController();
      const reason = new Error('the caller gave up');
      const waits = Array.from({ length: 50 }, (_, i) =>
        stack.runtime.waitForOutcome(`droplet-8-${i + 1}`, { signal: stop.signal }),
      );
      await until(() => (stack.runtime.events.stats().waiters === 50 ? true : undefined));
      expect(getEventListeners(stop.signal, 'abort')).toHaveLength(1);

      // A wait that ends by itself takes nothing from the others; the last one removes the listener.
      const alone = new AbortController();
      const short = stack.runtime.waitForOutcome('droplet-8-99', { signal: alone.signal, timeoutMs: 1 });
      await expect(short).resolves.toBeUndefined();
      expect(getEventListeners(alone.signal, 'abort')).toHaveLength(0);

      stop.abort(reason);
      for (const wait of waits) await expect(wait).rejects.toBe(reason);
      expect(stack.runtime.events.stats().waiters).toBe(0);
      expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
      // Node emits its warnings on the next tick: one turn of the loop lets any show.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await stack.close();
    }
  });
});

describe('an event feed that fell behind', () => {
  it('finds an outcome whose event was trimmed from the stream before the feed could read it', async () => {
    const prefix = testPrefix('event-feed-trim');
    const redis = createRedis(REDIS_TARGET);
    const proxy = await HoldingProxy.start(Number(new URL(REDIS_URL).port || 6379));
    const feed = new EventFeed({
      redis,
      connect: () =>
        createRedis(urlTarget(`redis://127.0.0.1:${proxy.port}`), { connectionName: `${prefix}:events` }),
      prefix,
      logger: createLogger({ level: 'silent' }),
    });
    const key = eventsKey(prefix);
    try {
      await redis.xadd(key, '*', ...outcomeFields('droplet-1-0'));
      const wait = feed.waitFor({ kind: 'watch', id: 'droplet-1-1' }, async () => {
        const json = await redis.get(outcomeKey(prefix, 'droplet-1-1'));
        return json === null ? undefined : (JSON.parse(json) as { outcome: string });
      });
      await until(() => (feed.stats().waiters === 1 ? true : undefined));
      // Stall the feed between two reads: the read it sends next waits in the proxy.
      proxy.held = true;
      await redis.xadd(key, '*', ...outcomeFields('droplet-1-2'));
      await until(() => (proxy.heldChunks > 0 ? true : undefined));

      // Meanwhile the outcome is recorded, and its event trimmed away by many later ones.
      await redis.set(outcomeKey(prefix, 'droplet-1-1'), JSON.stringify({ outcome: 'completed' }));
      const eventId = (await redis.xadd(key, '*', ...outcomeFields('droplet-1-1'))) as string;
      for (let i = 0; i < 300; i++)
        await redis.xadd(key, 'MAXLEN', '~', 1, '*', ...outcomeFields(`droplet-2-${i}`));
      expect(await redis.xrange(key, eventId, eventId)).toEqual([]);

      proxy.release();
      expect(await wait).toEqual({ outcome: 'completed' });
    } finally {
      await feed.close();
      proxy.close();
      await redis.del(key, outcomeKey(prefix, 'droplet-1-1'));
      redis.disconnect();
    }
  });

  it('rejects open waits with FeedClosedError when it closes', async () => {
    const stack = await startStack({ name: 'event-feed-close' });
    try {
      const wait = stack.runtime.waitForOutcome('droplet-9-9');
      await until(() => (stack.runtime.events.stats().waiters === 1 ? true : undefined));
      await stack.runtime.events.close();
      await expect(wait).rejects.toBeInstanceOf(FeedClosedError);
    } finally {
      await stack.close();
    }
  });
});

describe('Redis restarted while waiters are open', () => {
  let redis: RestartableRedis;
  let stack: Stack;

  beforeAll(async () => {
    redis = await RestartableRedis.start();
    stack = await startStack({
      name: 'event-feed-restart',
      redis: { REDIS_URL: redis.url },
      env: { API_TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('reconnects, and every wait and stream still gets its outcome', async () => {
    const app = await buildServer(stack.runtime);
    const base = await listen(app);
    try {
      const actions = Array.from({ length: 20 }, (_, i) =>
        stack.simulator.createAction({ kind: 'droplet', resourceId: 500 + i, durationMs: 600_000 }),
      );
      const response = await api(base, 'POST', '/v1/watches/batch', {
        watches: actions.map((action) => ({
          kind: 'droplet',
          resourceId: action.resource_id,
          actionId: action.id,
        })),
      });
      expect(response.status).toBe(201);
      const ids = actions.map((action) => `droplet-${action.resource_id}-${action.id}`);
      const polls = ids.map((id) => longPoll(base, id, '90s'));
      const library = stack.runtime.waitForOutcome(ids[0] as string, { timeoutMs: 90_000 });
      const stream = await SseClient.open(`${base}/v1/events`, AUTH);
      await until(() => (stack.runtime.events.stats().waiters === ids.length + 1 ? true : undefined));

      await redis.restart();
      // Outcomes recorded once Redis is back reach every waiter and the stream.
      await stack.runtime.startWorker({ concurrency: 8 });
      for (const [i, action] of actions.entries())
        stack.simulator.finishAction(action.id, i % 4 === 0 ? 'errored' : 'completed');

      const answers = await Promise.all(polls);
      expect(answers.map((answer) => [answer.status, answer.watch.id, answer.watch.outcome])).toEqual(
        ids.map((id, i) => [200, id, i % 4 === 0 ? 'errored' : 'completed']),
      );
      expect((await library)?.outcome).toBe('errored');
      await until(() => (stream.messages.length >= ids.length ? true : undefined), 30_000);
      expect(stream.watchIds().sort()).toEqual([...ids].sort());
      stream.close();
      // The feed reconnected on its one connection; nothing piled up.
      const after = await connectionsOf(redis.url, stack.prefix);
      expect(after.filter((line) => line.includes(':events')).length).toBe(1);
      expect(after.length).toBeLessThanOrEqual(10);
    } finally {
      await app.close();
    }
  }, 120_000);
});
