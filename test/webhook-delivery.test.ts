import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logging/logger.js';
import { assertTargetAllowed } from '../src/notifications/webhooks/address-guard.js';
import { goneTargetsKey } from '../src/notifications/webhooks/delivery-queue.js';
import { DeliveryWorker } from '../src/notifications/webhooks/delivery-worker.js';
import { retrySchedule } from '../src/notifications/webhooks/retry-schedule.js';
import { WebhookSigner } from '../src/notifications/webhooks/webhook-signer.js';
import { createRedis } from '../src/support/redis.js';
import { outcomeRecord } from './fixtures/webhook-records.js';
import { FAST_RETRIES, startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { REDIS_TARGET, until } from './support/stack.js';

describe('webhook delivery to a real receiver on loopback', () => {
  let hooks: WebhookStack | undefined;
  afterEach(async () => {
    await hooks?.close();
    hooks = undefined;
  });

  it('signs every message (the library verifier accepts it) and routes outcomes by type to each target', async () => {
    // WEBHOOK_URL gets everything; the Slack-formatted alert target the alert outcomes; the
    // watches' own target wants completed only.
    hooks = await startWebhookStack({
      name: 'wh-flow',
      env: (receiver) => ({ ALERT_WEBHOOK_URL: receiver.url('/alerts'), ALERT_WEBHOOK_FORMAT: 'slack' }),
    });
    const { receiver, stack } = hooks;
    const { runtime, simulator } = stack;
    const mine = receiver.url('/mine');
    const done = simulator.createAction({ kind: 'droplet', resourceId: 11, type: 'reboot', durationMs: 300 });
    const broken = simulator.createAction({
      kind: 'droplet',
      resourceId: 12,
      type: 'resize',
      durationMs: 300,
      result: 'errored',
    });
    const webhooks = [{ url: mine, on: ['completed' as const] }];
    const [a, b] = await runtime.watches.watchMany([
      { kind: 'droplet', resourceId: 11, actionId: done.id, webhooks },
      { kind: 'droplet', resourceId: 12, actionId: broken.id, webhooks },
    ]);
    await runtime.startWorker({ concurrency: 4 });
    await until(() => receiver.successes().length >= 4 || undefined);
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more is coming

    const byPath = (path: string) => receiver.received.filter((request) => request.path === path);
    expect(
      byPath('/hook')
        .map((request) => JSON.parse(request.body).type)
        .sort(),
    ).toEqual(['action.completed', 'action.errored']);
    expect(byPath('/mine').map((request) => JSON.parse(request.body).type)).toEqual(['action.completed']);
    expect(byPath('/alerts')).toHaveLength(1);
    expect(JSON.parse(byPath('/alerts')[0]?.body ?? '')).toEqual({
      text: `:x: actionwatch: droplet 12 action ${broken.id} (resize) errored`,
    });

    for (const request of receiver.received) {
      expect(request.verified).toBe(true);
      expect(request.contentType).toBe('application/json');
      expect(request.id).toMatch(/^msg_[0-9a-f]{32}$/);
      expect(request.signature).toMatch(/^v1,/);
      expect(Math.abs(Number(request.timestamp) - Date.now() / 1000)).toBeLessThan(30);
    }
    // Independently of the receiver: the library verifier, given the raw body and headers.
    const first = byPath('/mine')[0];
    if (first === undefined) throw new Error('no message at /mine');
    const verified = new Webhook(hooks.secret).verify(first.body, {
      'webhook-id': first.id,
      'webhook-timestamp': first.timestamp,
      'webhook-signature': first.signature ?? '',
    });
    const outcome = await runtime.watches.outcomes.get(a?.watch.id ?? '');
    expect(verified).toEqual({
      type: 'action.completed',
      timestamp: outcome?.watch.finishedAt,
      data: {
        watch: {
          id: a?.watch.id,
          kind: 'droplet',
          resourceId: 11,
          actionId: done.id,
          enqueuedAt: outcome?.watch.enqueuedAt,
          finishedAt: outcome?.watch.finishedAt,
        },
        action: outcome?.action,
      },
    });
    expect((verified as { data: { action: { region: unknown } } }).data.action.region).toBeTruthy();
    expect(b?.watch.id).toBeDefined();

    // Each attempt is logged with host, status, duration and attempt number; the secret never.
    const attempts = stack.logs.find(
      (line) => typeof line.webhookId === 'string' && line.attempt !== undefined,
    );
    expect(attempts).toHaveLength(4);
    expect(attempts[0]).toMatchObject({
      targetHost: `127.0.0.1:${receiver.port}`,
      status: 200,
      attempt: 1,
      durationMs: expect.any(Number),
    });
    expect(stack.logs.raw.join('\n')).not.toContain(hooks.secret.slice('whsec_'.length));
    expect(stack.logs.raw.join('\n')).not.toContain('/alerts'); // hosts only, never paths
  });

  it('retries 5xx and network errors until a 2xx, with the same webhook-id', async () => {
    hooks = await startWebhookStack({
      name: 'wh-5xx',
      receiver: {
        reply: (_, index) => (index < 2 ? { status: 503, body: 'busy, come back' } : { status: 204 }),
      },
    });
    const record = outcomeRecord('completed');
    await hooks.emit(record);
    const [job] = await hooks.settled(record.watch.id);
    const { received } = hooks.receiver;
    expect(received.map((request) => request.status)).toEqual([503, 503, 204]);
    expect(new Set(received.map((request) => request.id)).size).toBe(1);
    expect(await job?.getState()).toBe('completed');
    expect(job?.returnvalue).toMatchObject({ status: 204, attempts: 3 });
    // Jittered exponential delays: ~100 ms, then ~200 ms.
    const gaps = received.slice(1).map((request, index) => request.at - (received[index]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[1]).toBeGreaterThanOrEqual(200);
    const retried = hooks.stack.logs.find((line) => line.status === 503);
    expect(retried[0]).toMatchObject({ level: 40, attempt: 1, err: 'HTTP 503: busy, come back' });
    expect(retried[0]?.retryInMs).toBeGreaterThanOrEqual(100);
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    hooks = await startWebhookStack({
      name: 'wh-429',
      receiver: {
        reply: (_, index) =>
          index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 },
      },
    });
    const record = outcomeRecord('errored');
    await hooks.emit(record);
    await hooks.settled(record.watch.id);
    const [first, second] = hooks.receiver.received;
    expect([first?.status, second?.status]).toEqual([429, 200]);
    // The schedule alone would have retried after ~100 ms.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(second?.id).toBe(first?.id);
  });

  it('treats 410 Gone as final, and stops queueing messages for that per-watch target', async () => {
    hooks = await startWebhookStack({
      name: 'wh-410',
      receiver: { reply: (request) => (request.path === '/gone' ? { status: 410 } : { status: 200 }) },
    });
    const gone = hooks.receiver.url('/gone');
    const first = outcomeRecord('completed', { webhooks: [{ url: gone }] });
    await hooks.emit(first);
    const jobs = await hooks.settled(first.watch.id);
    const failed = jobs.find((job) => job.data.target === gone);
    expect(await failed?.getState()).toBe('failed');
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/410 Gone and is disabled/);
    expect(await hooks.stack.runtime.redis.smembers(goneTargetsKey(hooks.stack.prefix))).toEqual([gone]);

    const second = outcomeRecord('completed', { webhooks: [{ url: gone }] });
    await hooks.emit(second);
    const later = await hooks.settled(second.watch.id);
    expect(later.map((job) => job.data.source)).toEqual(['global']);
    expect(hooks.receiver.received.filter((request) => request.path === '/gone')).toHaveLength(1);
  });

  it('gives up on a configured target answering 410 without disabling it', async () => {
    hooks = await startWebhookStack({ name: 'wh-410g', receiver: { reply: () => ({ status: 410 }) } });
    const record = outcomeRecord('completed');
    await hooks.emit(record);
    const [job] = await hooks.settled(record.watch.id);
    expect(job?.failedReason).toMatch(/^target answered 410 Gone: HTTP 410/);
    expect(await hooks.stack.runtime.redis.scard(goneTargetsKey(hooks.stack.prefix))).toBe(0);
  });

  it('retries other 4xx a few times, then gives up; does not follow redirects', async () => {
    hooks = await startWebhookStack({
      name: 'wh-4xx',
      receiver: {
        reply: (request) =>
          request.path === '/moved'
            ? { status: 302, headers: { location: '/elsewhere' } }
            : { status: 422, body: 'unprocessable' },
      },
    });
    const record = outcomeRecord('completed', { webhooks: [{ url: hooks.receiver.url('/moved') }] });
    await hooks.emit(record);
    const jobs = await hooks.settled(record.watch.id);
    for (const job of jobs) {
      expect(await job.getState()).toBe('failed');
      expect(job.attemptsMade).toBe(3);
    }
    const byTarget = Object.fromEntries(jobs.map((job) => [new URL(job.data.target).pathname, job]));
    expect(byTarget['/hook']?.failedReason).toBe('gave up after 3 client errors: HTTP 422: unprocessable');
    expect(byTarget['/moved']?.failedReason).toBe(
      'gave up after 3 client errors: HTTP 302 (redirects are not followed)',
    );
    expect(hooks.receiver.received.filter((request) => request.path === '/elsewhere')).toHaveLength(0);
  });

  it('gives up on a receiver slower than the timeout, and retries it', async () => {
    hooks = await startWebhookStack({
      name: 'wh-slow',
      env: { WEBHOOK_TIMEOUT: '400ms' },
      receiver: { reply: (_, index) => (index === 0 ? { status: 200, delayMs: 1_500 } : { status: 200 }) },
    });
    const record = outcomeRecord('completed');
    await hooks.emit(record);
    const [job] = await hooks.settled(record.watch.id);
    expect(job?.returnvalue).toMatchObject({ status: 200, attempts: 2 });
    const [late, prompt] = hooks.receiver.received;
    expect(late?.status).toBeNull(); // the sender had hung up before the slow 200
    expect(prompt?.status).toBe(200);
    const timedOut = hooks.stack.logs.find((line) => line.err === 'no response within 400 ms');
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]?.durationMs).toBeLessThan(1_000);
    expect(hooks.receiver.successes()).toHaveLength(1);
  });

  it('refuses to deliver to a private address unless WEBHOOK_ALLOW_PRIVATE, and says why', async () => {
    hooks = await startWebhookStack({ name: 'wh-private', env: { WEBHOOK_ALLOW_PRIVATE: 'false' } });
    const record = outcomeRecord('completed');
    await hooks.emit(record);
    const [job] = await hooks.settled(record.watch.id);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(
      /^refused: webhook host 127\.0\.0\.1 resolves to 127\.0\.0\.1 \(loopback\)/,
    );
    expect(hooks.receiver.received).toHaveLength(0);
  });

  it('checks the address again at delivery, when DNS has changed since the target was given', async () => {
    hooks = await startWebhookStack({ name: 'wh-rebind', deliver: false });
    const { stack, receiver } = hooks;
    const connection = createRedis(REDIS_TARGET, { forWorker: true });
    let answer = '93.184.215.14';
    const worker = new DeliveryWorker({
      connection,
      prefix: stack.prefix,
      deliveries: stack.runtime.deliveries(),
      signer: new WebhookSigner(undefined),
      logger: createLogger({ level: 'silent' }),
      timeoutMs: 1_000,
      allowPrivate: false,
      schedule: retrySchedule(5_000, FAST_RETRIES),
      resolver: async () => [{ address: answer, family: 4 }],
    });
    try {
      const target = `http://hooks.rebind.test:${receiver.port}/hook`;
      const resolver = async () => [{ address: answer, family: 4 }];
      await assertTargetAllowed(target, { allowPrivate: false, resolver });
      answer = '127.0.0.1'; // rebound to loopback after the target was accepted
      const record = outcomeRecord('completed', { webhooks: [{ url: target }] });
      await worker.start();
      await hooks.emit(record);
      const jobs = await hooks.settled(record.watch.id);
      const rebound = jobs.find((job) => job.data.target === target);
      expect(rebound?.failedReason).toMatch(
        /hooks\.rebind\.test resolves to 127\.0\.0\.1 \(loopback\); refused/,
      );
      expect(receiver.received).toHaveLength(0);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  });
});
