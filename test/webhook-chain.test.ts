import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { until } from './support/stack.js';

describe('chain outcomes as webhooks', () => {
  let hooks: WebhookStack;
  let watcher: ActionWatcher;
  const chainMessages = (path: string) =>
    hooks.receiver.received.filter(
      (request) => request.path === path && JSON.parse(request.body).type.startsWith('chain.'),
    );

  beforeAll(async () => {
    // WEBHOOK_URL (/hook) gets every chain event; the Slack alert target only chain.failed.
    hooks = await startWebhookStack({
      name: 'wh-chain',
      env: (receiver) => ({ ALERT_WEBHOOK_URL: receiver.url('/alerts'), ALERT_WEBHOOK_FORMAT: 'slack' }),
    });
    await hooks.stack.runtime.startWorker({ concurrency: 4 });
    await hooks.stack.runtime.startChainWorker();
    watcher = ActionWatcher.fromRuntime(hooks.stack.runtime);
  });

  afterAll(async () => {
    await watcher?.close();
    await hooks?.close();
  });

  it('a completed chain sends one signed chain.completed to WEBHOOK_URL and the plan’s webhooks, none to the alert target', async () => {
    const { receiver, stack } = hooks;
    stack.simulator.ensureResource('droplet', 7001);
    const chain = await watcher.chain({
      name: 'hooked',
      webhooks: [receiver.url('/plan')],
      steps: [{ id: 'reboot', run: { droplet: 7001, type: 'reboot' } }],
    });
    const outcome = await watcher.waitForChain(chain, { timeout: 20_000 });
    await until(() => (chainMessages('/hook').length > 0 && chainMessages('/plan').length > 0) || undefined);
    await hooks.settled(chain.id);
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more is coming

    const [message, ...more] = chainMessages('/hook');
    expect(more).toEqual([]);
    if (message === undefined) throw new Error('no chain message at /hook');
    expect(message.id).toMatch(/^msg_[0-9a-f]{32}$/);
    const verified = new Webhook(hooks.secret).verify(message.body, {
      'webhook-id': message.id,
      'webhook-timestamp': message.timestamp,
      'webhook-signature': message.signature ?? '',
    });
    const actionId = outcome.steps[0]?.runs[0]?.actionId;
    expect(actionId).toBeTypeOf('number');
    expect(verified).toEqual({
      type: 'chain.completed',
      timestamp: outcome.chain.finishedAt,
      data: {
        chain: {
          id: chain.id,
          name: 'hooked',
          outcome: 'completed',
          submittedAt: outcome.chain.createdAt,
          finishedAt: outcome.chain.finishedAt,
          steps: [
            {
              id: 'reboot',
              status: 'completed',
              runs: [{ kind: 'droplet', type: 'reboot', resourceId: 7001, actionId, outcome: 'completed' }],
            },
          ],
        },
      },
    });
    expect(chainMessages('/plan').map((request) => JSON.parse(request.body).type)).toEqual([
      'chain.completed',
    ]);
    expect(chainMessages('/alerts')).toEqual([]);
  });

  it('a failed chain sends chain.failed to the alert target (Slack text) and to WEBHOOK_URL', async () => {
    const { receiver, stack } = hooks;
    stack.simulator.createAction({ kind: 'droplet', resourceId: 7002, type: 'resize', durationMs: 3_000 });
    const chain = await watcher.chain({ steps: [{ id: 'reboot', run: { droplet: 7002, type: 'reboot' } }] });
    const outcome = await watcher.waitForChain(chain, { timeout: 10_000 });
    expect(outcome).toMatchObject({ type: 'chain.failed', outcome: 'rejected', failedStep: 'reboot' });
    const alert = await until(
      () => receiver.received.find((request) => request.path === '/alerts' && request.status === 200),
      10_000,
    );
    expect(alert.verified).toBe(true);
    expect(JSON.parse(alert.body)).toEqual({
      text: `:x: actionwatch: chain ${chain.id} rejected at step reboot: ${outcome.reason}`,
    });
    const global = await until(() =>
      chainMessages('/hook').find((request) => JSON.parse(request.body).data.chain.id === chain.id),
    );
    expect(JSON.parse(global.body)).toMatchObject({
      type: 'chain.failed',
      data: { chain: { id: chain.id, outcome: 'rejected', failedStep: 'reboot', reason: outcome.reason } },
    });
  });

  it('the sink run again after a crash (same recorded outcome) queues nothing twice', async () => {
    const { stack } = hooks;
    stack.simulator.ensureResource('droplet', 7003);
    const chain = await watcher.chain({ steps: [{ id: 'reboot', run: { droplet: 7003, type: 'reboot' } }] });
    const outcome = await watcher.waitForChain(chain, { timeout: 20_000 });
    const before = await hooks.settled(chain.id);
    expect(before.map((job) => job.data.type)).toEqual(['chain.completed']);
    const received = hooks.receiver.received.length;

    // What the chain worker does when it crashed after recording the outcome, before completing.
    await stack.runtime.chainWebhookSink().accept(outcome);
    await stack.runtime.chainWebhookSink().accept(structuredClone(outcome));
    const after = await hooks.jobsOf(chain.id);
    expect(after.map((job) => [job.id, job.data.webhookId])).toEqual(
      before.map((job) => [job.id, job.data.webhookId]),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hooks.receiver.received.length).toBe(received);
  });
});
