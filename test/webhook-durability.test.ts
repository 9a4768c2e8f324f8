import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis } from '../src/support/redis.js';
import { WATCH_QUEUE } from '../src/watches/keys.js';
import type { Outcome, WatchData } from '../src/watches/watch.js';
import type { Received } from './fixtures/webhook-receiver.js';
import { outcomeRecord } from './fixtures/webhook-records.js';
import { FAST_RETRIES, startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { exited, startCli } from './support/cli.js';
import { REDIS_TARGET, until } from './support/stack.js';

/** Every message arrived exactly once as a success; anything else that arrived was a retry of one. */
function expectEachOnce(received: Received[], ids: string[]): void {
  const successes = received.filter((request) => request.status !== null && request.status < 300);
  expect(successes.map((request) => request.id).sort()).toEqual([...ids].sort());
  expect(received.every((request) => ids.includes(request.id))).toBe(true);
}

describe('durable webhook delivery', () => {
  let hooks: WebhookStack | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await hooks?.close();
    hooks = undefined;
  });

  it('delivers every message once when the receiver is down for a while, then failing, then up', async () => {
    let phase: 'failing' | 'up' = 'failing';
    hooks = await startWebhookStack({
      name: 'wh-down',
      retry: { ...FAST_RETRIES, jitter: 0.5 },
      receiver: { reply: () => (phase === 'up' ? { status: 200 } : { status: 500 }) },
    });
    const { receiver } = hooks;
    await receiver.down();
    const outcomes: Outcome[] = ['completed', 'errored', 'not_found', 'timed_out', 'cancelled'];
    const records = Array.from({ length: 20 }, (_, index) =>
      outcomeRecord(outcomes[index % 5] ?? 'completed'),
    );
    for (const record of records) await hooks.emit(record);
    const ids = (await Promise.all(records.map((record) => hooks?.jobsOf(record.watch.id)))).flatMap(
      (jobs) => jobs?.map((job) => job.data.webhookId) ?? [],
    );
    expect(ids).toHaveLength(20);

    // Connection refused, and retried on the schedule: every message has been tried twice.
    await until(async () => {
      const jobs = await hooks?.stack.runtime.deliveries().queue.getJobs(['delayed', 'wait', 'active']);
      return jobs?.length === 20 && jobs.every((job) => job.attemptsMade >= 2) ? true : undefined;
    }, 20_000);
    expect(receiver.received).toHaveLength(0);
    await receiver.up();
    // 500s, retried: every message has met one.
    await until(
      () =>
        new Set(receiver.received.filter((request) => request.status === 500).map((request) => request.id))
          .size === 20 || undefined,
      20_000,
    );
    phase = 'up';
    // Nothing more is coming once every message's job is done.
    await until(async () => {
      const counts = await hooks?.stack.runtime
        .deliveries()
        .queue.getJobCounts('completed', 'wait', 'active', 'delayed');
      return counts?.completed === 20 && counts.wait === 0 && counts.active === 0 && counts.delayed === 0
        ? true
        : undefined;
    }, 20_000);
    expect(receiver.successes()).toHaveLength(20);

    expectEachOnce(receiver.received, ids);
    expect(receiver.received.some((request) => request.status === 500)).toBe(true);
    expect(receiver.received.every((request) => request.verified)).toBe(true);
    const counts = await hooks.stack.runtime
      .deliveries()
      .queue.getJobCounts('completed', 'failed', 'delayed');
    expect(counts).toEqual({ completed: 20, failed: 0, delayed: 0 });
  });

  it('still sends the message of an outcome recorded by a worker that died before queueing it', async () => {
    hooks = await startWebhookStack({ name: 'wh-crash' });
    const { stack, receiver } = hooks;
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 77, durationMs: 0 });
    const { watch } = await stack.runtime.watches.watch({
      kind: 'droplet',
      resourceId: 77,
      actionId: action.id,
      webhooks: [{ url: receiver.url('/mine') }],
    });

    // A worker takes the job and records the outcome exactly as the processor does...
    const connection = createRedis(REDIS_TARGET, { forWorker: true });
    const doomed = new Worker<WatchData>(WATCH_QUEUE, null, {
      connection,
      prefix: stack.prefix,
      lockDuration: 2_000,
    });
    const job = await until(() => doomed.getNextJob('doomed-token'));
    expect(job.id).toBe(watch.id);
    const finishedAt = new Date().toISOString();
    await stack.runtime.watches.outcomes.record({
      type: 'action.completed',
      outcome: 'completed',
      watch: { ...watch, polls: 1, finishedAt },
      action: { id: action.id, status: 'completed', type: action.type },
      ...(job.data.webhooks === undefined ? {} : { webhooks: job.data.webhooks }),
    });
    // ...and dies: its connection cut, the job neither completed nor its messages queued.
    connection.disconnect();
    await doomed.close(true).catch(() => {});
    expect(await stack.runtime.deliveries().queue.count()).toBe(0);

    // A new worker takes the job once its lock expires, sees the outcome, queues the messages.
    await stack.runtime.startWorker({ concurrency: 2 });
    await until(() => (receiver.successes().length >= 2 ? true : undefined), 20_000);
    // Nothing more is coming once the watch job is done and every message it queued is sent.
    await until(async () => (await stack.runtime.watches.queue.getJob(watch.id))?.isCompleted());
    await hooks.settled(watch.id);
    const ids = (await hooks.jobsOf(watch.id)).map((delivery) => delivery.data.webhookId);
    expect(ids).toHaveLength(2); // WEBHOOK_URL and the watch's own
    expectEachOnce(receiver.received, ids);
    expect(JSON.parse(receiver.received[0]?.body ?? '{}')).toMatchObject({
      type: 'action.completed',
      timestamp: finishedAt,
    });
  });

  it.each([
    ['after the outcome is recorded, before its messages are queued', false],
    ['after its messages are queued, before the watch job completes', true],
  ])('SIGKILL of a worker %s: each message arrives once', async (_, afterQueueing) => {
    hooks = await startWebhookStack({ name: 'wh-kill1', deliver: !afterQueueing });
    const { stack, receiver } = hooks;
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 78, durationMs: 0 });
    const { watch } = await stack.runtime.watches.watch({
      kind: 'droplet',
      resourceId: 78,
      actionId: action.id,
    });

    const runner = fileURLToPath(new URL('./fixtures/webhook-run-ts.mjs', import.meta.url));
    const entry = fileURLToPath(new URL('./fixtures/webhook-crash-worker.ts', import.meta.url));
    const child = spawn(process.execPath, [runner, entry], {
      env: {
        ...process.env,
        ...childEnv(hooks),
        LOG_LEVEL: 'warn',
        STOP_AFTER_QUEUEING: String(afterQueueing),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await until(() => output.includes(`recorded ${watch.id}`) || undefined, 20_000).catch(() => {
      throw new Error(`the child worker never recorded the outcome:\n${output}`);
    });
    expect((await stack.runtime.watches.outcomes.get(watch.id))?.outcome).toBe('completed');
    expect(await stack.runtime.deliveries().queue.count()).toBe(afterQueueing ? 1 : 0);
    child.kill('SIGKILL');
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(receiver.received).toHaveLength(0);

    // A fresh worker re-runs the watch job after its lock expires; its sink run adds nothing new.
    await stack.runtime.startDeliveryWorker({ retry: FAST_RETRIES });
    await stack.runtime.startWorker({ concurrency: 2 });
    await until(() => receiver.successes().length >= 1 || undefined, 20_000);
    // Nothing more is coming once the watch job is done and every message it queued is sent.
    await until(async () => (await stack.runtime.watches.queue.getJob(watch.id))?.isCompleted());
    await hooks.settled(watch.id);
    const ids = (await hooks.jobsOf(watch.id)).map((delivery) => delivery.data.webhookId);
    expect(ids).toHaveLength(1);
    expectEachOnce(receiver.received, ids);
    expect(receiver.received).toHaveLength(1);
    expect(await stack.runtime.redis.xlen(`${stack.prefix}:events`)).toBe(1);
  });

  it('SIGKILL of the CLI worker while it is sending: the message is sent again and arrives once as a success', async () => {
    let killed: Promise<unknown> | undefined;
    let worker: (ChildProcess & { output: () => string }) | undefined;
    hooks = await startWebhookStack({
      name: 'wh-kill2',
      deliver: false,
      receiver: {
        reply: (_, index) => {
          if (index > 0) return { status: 200 };
          // The first attempt reaches us: kill its worker before it hears back.
          worker?.kill('SIGKILL');
          killed = worker === undefined ? undefined : exited(worker);
          return 'hang';
        },
      },
    });
    const { stack, receiver } = hooks;
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 79, durationMs: 300 });
    const { watch } = await stack.runtime.watches.watch({
      kind: 'droplet',
      resourceId: 79,
      actionId: action.id,
    });
    worker = startCli(['worker', '--concurrency', '2'], childEnv(hooks));
    children.push(worker);
    await until(() => killed, 20_000).catch(() => {
      throw new Error(`the CLI worker never sent the message:\n${worker?.output()}`);
    });
    await killed;
    expect(worker.signalCode).toBe('SIGKILL');
    expect(receiver.successes()).toHaveLength(0);

    await stack.runtime.startDeliveryWorker({ retry: FAST_RETRIES });
    await stack.runtime.startWorker({ concurrency: 2 });
    await until(() => receiver.successes().length >= 1 || undefined, 20_000);
    // Nothing more is coming once the watch job is done and every message it queued is sent.
    await until(async () => (await stack.runtime.watches.queue.getJob(watch.id))?.isCompleted());
    await hooks.settled(watch.id);
    const ids = (await hooks.jobsOf(watch.id)).map((delivery) => delivery.data.webhookId);
    expect(ids).toHaveLength(1);
    expectEachOnce(receiver.received, ids);
    expect(receiver.received.map((request) => request.status)).toEqual([null, 200]);
  });
});

/** The environment of a worker process sharing the test's Redis prefix, simulator and receiver. */
function childEnv(hooks: WebhookStack): Record<string, string> {
  return hooks.stack.processEnv({
    WORKER_LOCK_DURATION: '2s',
    WEBHOOK_URL: hooks.receiver.url(),
    WEBHOOK_SECRET: hooks.secret,
    WEBHOOK_ALLOW_PRIVATE: 'true',
  });
}
