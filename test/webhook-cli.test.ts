import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { goneTargetsKey } from '../src/notifications/webhooks/delivery-queue.js';
import { outcomeRecord } from './fixtures/webhook-records.js';
import { startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { runCli } from './support/cli.js';
import { REDIS_ENV, SIM_TOKEN, until } from './support/stack.js';

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('actionwatch webhooks failed / retry, and the enqueue-time address check', () => {
  let hooks: WebhookStack | undefined;
  afterEach(async () => {
    await hooks?.close();
    hooks = undefined;
  });

  it('lists messages whose retries ran out and sends them again with the same webhook-id', async () => {
    let accepting = false;
    hooks = await startWebhookStack({
      name: 'wh-cli',
      receiver: {
        reply: (request) =>
          accepting
            ? { status: 200 }
            : request.path === '/gone'
              ? { status: 410 }
              : { status: 400, body: 'nope' },
      },
    });
    const { receiver, stack } = hooks;
    const env = { ...REDIS_ENV, ACTIONWATCH_PREFIX: stack.prefix };
    const first = outcomeRecord('errored');
    const second = outcomeRecord('completed', { webhooks: [{ url: receiver.url('/gone') }] });
    await hooks.emit(first);
    await hooks.emit(second);
    await hooks.settled(first.watch.id);
    await hooks.settled(second.watch.id);

    const listed = await runCli(['webhooks', 'failed'], env);
    expect(listed.code).toBe(0);
    const failed = jsonLines(listed.stdout);
    expect(failed).toHaveLength(3);
    const byTarget = Object.fromEntries(
      failed.map((entry) => [new URL(String(entry.target)).pathname, entry]),
    );
    const firstHook = failed.find((entry) => entry.watchId === first.watch.id);
    expect(firstHook).toEqual({
      id: expect.stringMatching(new RegExp(`^${first.watch.id}-[0-9a-f]{12}$`)),
      webhookId: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
      target: receiver.url(),
      type: 'action.errored',
      watchId: first.watch.id,
      status: 400,
      lastError: 'gave up after 3 client errors: HTTP 400: nope',
      attempts: 3,
      failedAt: expect.any(String),
    });
    expect(byTarget['/gone']).toMatchObject({ status: 410, attempts: 1, watchId: second.watch.id });
    expect(await stack.runtime.redis.sismember(goneTargetsKey(stack.prefix), receiver.url('/gone'))).toBe(1);

    // Retry one by its id: it arrives, signed, under the webhook-id it had.
    accepting = true;
    const one = await runCli(['webhooks', 'retry', String(firstHook?.id)], env);
    expect(one.code).toBe(0);
    expect(jsonLines(one.stdout)).toEqual([{ ...firstHook, state: 'waiting' }]);
    await until(() => receiver.successes().find((request) => request.id === firstHook?.webhookId));
    expect(receiver.successes().filter((request) => request.id === firstHook?.webhookId)).toHaveLength(1);

    // The rest with --all; retrying the 410 target re-enables it.
    const all = await runCli(['webhooks', 'retry', '--all'], env);
    expect(all.code).toBe(0);
    expect(jsonLines(all.stdout)).toHaveLength(2);
    await until(() => receiver.successes().length >= 3 || undefined);
    const ids = failed.map((entry) => entry.webhookId).sort();
    expect(
      receiver
        .successes()
        .map((request) => request.id)
        .sort(),
    ).toEqual(ids);
    expect(receiver.successes().every((request) => request.verified)).toBe(true);
    expect(await stack.runtime.redis.scard(goneTargetsKey(stack.prefix))).toBe(0);
    const after = await runCli(['webhooks', 'failed'], env);
    expect(after.stdout).toBe('');

    // Clear errors for ids that are unknown or not failed, and for a wrong usage.
    const unknown = await runCli(['webhooks', 'retry', 'droplet-1-2-abc'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      'actionwatch: no webhook delivery "droplet-1-2-abc" (see actionwatch webhooks failed)',
    );
    const done = await runCli(['webhooks', 'retry', String(firstHook?.id)], env);
    expect(done.code).toBe(1);
    expect(done.stderr).toContain(`webhook delivery ${firstHook?.id} is completed, not failed`);
    const byWebhookId = await runCli(['webhooks', 'retry', 'msg_00000000000000000000000000000000'], env);
    expect(byWebhookId.stderr).toContain('no webhook delivery "msg_00000000000000000000000000000000"');
    const usage = await runCli(['webhooks', 'retry'], env);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('usage: actionwatch webhooks retry <id> | --all');
  });

  it('wait --with-worker sends the outcome to its --webhook before it exits', async () => {
    hooks = await startWebhookStack({ name: 'wh-cli-wait', deliver: false });
    const { stack, receiver } = hooks;
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 42, durationMs: 300 });
    const waited = await runCli(
      ['wait', 'droplet', '42', String(action.id), '--with-worker', '--webhook', receiver.url('/mine')],
      {
        ...REDIS_ENV,
        ACTIONWATCH_PREFIX: stack.prefix,
        DIGITALOCEAN_API_URL: stack.simulator.url,
        DIGITALOCEAN_TOKEN: SIM_TOKEN,
        POLL_MIN_INTERVAL: '200ms',
        WEBHOOK_SECRET: hooks.secret,
        WEBHOOK_ALLOW_PRIVATE: 'true',
      },
    );
    expect(waited.code).toBe(0);
    // Already there when the command returns: nothing else could have sent it.
    expect(receiver.successes().map((request) => [request.path, JSON.parse(request.body).type])).toEqual([
      ['/mine', 'action.completed'],
    ]);
    expect(receiver.received[0]?.verified).toBe(true);
  });

  it('refuses a watch whose webhook resolves to a private address, unless WEBHOOK_ALLOW_PRIVATE=true', async () => {
    hooks = await startWebhookStack({ name: 'wh-cli-enqueue', deliver: false });
    const { stack } = hooks;
    const env = { ...REDIS_ENV, ACTIONWATCH_PREFIX: stack.prefix };
    const loopback = await runCli(
      ['watch', 'droplet', '5', '6', '--webhook', 'http://127.0.0.1:9/hook'],
      env,
    );
    expect(loopback.code).toBe(1);
    expect(loopback.stderr).toContain(
      'actionwatch: webhook host 127.0.0.1 resolves to 127.0.0.1 (loopback); refused. Set WEBHOOK_ALLOW_PRIVATE=true only for local development; nothing was enqueued',
    );
    const file = join(tmpdir(), `${stack.prefix}.jsonl`);
    writeFileSync(
      file,
      [
        JSON.stringify({ kind: 'droplet', resourceId: 5, actionId: 7 }),
        JSON.stringify({
          kind: 'droplet',
          resourceId: 5,
          actionId: 8,
          webhook: 'http://169.254.169.254/latest',
        }),
      ].join('\n'),
    );
    const metadata = await runCli(['watch', '--from-file', file], env);
    expect(metadata.code).toBe(1);
    expect(metadata.stderr).toContain('169.254.169.254 (cloud metadata service); refused');
    const credentials = await runCli(
      ['watch', 'droplet', '5', '6', '--webhook', 'https://u:p@example.com/'],
      env,
    );
    expect(credentials.stderr).toContain('webhook URL must not contain credentials');
    expect(await stack.runtime.watches.counts()).toMatchObject({ waiting: 0, delayed: 0 });

    const allowed = await runCli(['watch', 'droplet', '5', '6', '--webhook', 'http://127.0.0.1:9/hook'], {
      ...env,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ id: 'droplet-5-6', state: 'waiting' });
  });
});
