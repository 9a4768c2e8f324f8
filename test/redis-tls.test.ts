import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionWatcher } from '../src/library/action-watcher.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { runCli } from './support/cli.js';
import {
  generateTlsFiles,
  HAS_REDIS_SERVER,
  type RedisProcess,
  RedisServers,
} from './support/redis-servers.js';
import { until } from './support/stack.js';

describe.skipIf(!HAS_REDIS_SERVER)('Redis over TLS (a redis-server started here, self-signed CA)', () => {
  const servers = new RedisServers('redis-tls');
  const password = `tls-pw-${randomBytes(6).toString('hex')}`;
  let server: RedisProcess;
  /** What an operator sets for a TLS Redis with its own CA, an ACL user and a client certificate. */
  let redisEnv: Record<string, string>;
  let otherCa: string;

  beforeAll(async () => {
    const files = generateTlsFiles(servers.dir.path);
    otherCa = generateTlsFiles(servers.dir.path, 'some other CA').caCert;
    server = await servers.server('tls', { tls: files, args: ['--requirepass', password] });
    redisEnv = {
      REDIS_URL: `rediss://127.0.0.1:${server.port}`,
      REDIS_USERNAME: 'default',
      REDIS_PASSWORD: password,
      REDIS_TLS_CA_FILE: files.caCert,
      REDIS_TLS_CERT_FILE: files.clientCert,
      REDIS_TLS_KEY_FILE: files.clientKey,
    };
  });
  afterAll(async () => {
    await servers.close();
  });

  describe('with the right CA', () => {
    let webhooks: WebhookStack;
    beforeAll(async () => {
      webhooks = await startWebhookStack({ name: 'redis-tls', redis: redisEnv });
    });
    afterAll(async () => {
      await webhooks?.close();
    });

    it('runs watches end to end: CLI and library enqueue, a worker ends them, events and webhooks follow', async () => {
      const { stack, receiver } = webhooks;
      const { simulator, runtime } = stack;
      const completed = simulator.createAction({
        kind: 'droplet',
        resourceId: 41,
        type: 'create',
        durationMs: 800,
      });
      const errored = simulator.createAction({
        kind: 'image',
        resourceId: 42,
        type: 'transfer',
        durationMs: 600,
        result: 'errored',
      });
      // The CLI, a separate process configured only by the environment, enqueues one.
      const watched = await runCli(['watch', 'droplet', '41', String(completed.id)], stack.processEnv());
      expect(watched.stderr).toBe('');
      expect(watched.code).toBe(0);
      await runtime.watches.watchMany([{ kind: 'image', resourceId: 42, actionId: errored.id }]);
      await runtime.startWorker({ concurrency: 4 });

      // `wait` in another process blocks on the events stream over TLS until the outcome.
      const waited = await runCli(['wait', 'droplet', '41', String(completed.id)], stack.processEnv());
      expect(waited.code).toBe(0);
      expect(JSON.parse(waited.stdout)).toMatchObject({ id: completed.id, status: 'completed' });
      const imageOutcome = await runtime.waitForOutcome(`image-42-${errored.id}`, { timeoutMs: 15_000 });
      expect(imageOutcome).toMatchObject({
        outcome: 'errored',
        action: { id: errored.id, status: 'errored' },
      });

      const events = await runtime.redis.xrange(`${stack.prefix}:events`, '-', '+');
      expect(events.map(([, fields]) => fields[1]).sort()).toEqual(['action.completed', 'action.errored']);
      const delivered = await until(() => {
        const verified = receiver.successes().filter((request) => request.verified);
        return verified.length >= 2 ? verified : undefined;
      });
      const watchIds = delivered.map(
        (request) => (JSON.parse(request.body) as { data: OutcomeRecord }).data.watch.id,
      );
      expect(watchIds.sort()).toEqual([`droplet-41-${completed.id}`, `image-42-${errored.id}`]);

      // The password went nowhere it could be read back.
      expect(stack.logs.raw.join('\n')).not.toContain(password);
      expect(`${watched.stdout}${waited.stdout}${waited.stderr}`).not.toContain(password);
    });

    it('the library connects with the same variables', async () => {
      const watcher = await ActionWatcher.create({ env: webhooks.stack.processEnv() });
      try {
        expect(await watcher.runtime.redis.ping()).toBe('PONG');
      } finally {
        await watcher.close();
      }
    });
  });

  it('refuses a server whose certificate another CA signed, in one line naming the Redis and why', async () => {
    const env = { ...redisEnv, REDIS_TLS_CA_FILE: otherCa };
    const result = await runCli(['list'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^actionwatch: Redis at rediss://127\\.0\\.0\\.1:${server.port} as default did not answer \\((unable to verify the first certificate|self-signed certificate in certificate chain)\\)`,
      ),
    );
    expect(result.stderr).not.toContain(password);
    await expect(ActionWatcher.create({ env })).rejects.toThrow(/did not answer \(.*certificate/);
  });

  it('refuses a certificate that does not carry the name asked for (REDIS_TLS_SERVERNAME)', async () => {
    const result = await runCli(['list'], { ...redisEnv, REDIS_TLS_SERVERNAME: 'cache.example.com' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/did not answer \(Hostname\/IP does not match certificate's altnames/);
  });

  it('refuses a wrong password without printing it', async () => {
    const result = await runCli(['list'], { ...redisEnv, REDIS_PASSWORD: 'not-the-password' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/refused the user name or password \(WRONGPASS\)/);
    expect(result.stderr).not.toContain('not-the-password');
  });
});
