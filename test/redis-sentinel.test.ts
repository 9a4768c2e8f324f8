import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { startWebhookStack, type WebhookStack } from './fixtures/webhook-stack.js';
import { exited, runCli, startCli } from './support/cli.js';
import { HAS_REDIS_SERVER, type RedisProcess, RedisServers } from './support/redis-servers.js';
import { until } from './support/stack.js';

const NAME = 'aw-primary';

describe.skipIf(!HAS_REDIS_SERVER)('Sentinel: a failover in the middle of a batch of watches', () => {
  const servers = new RedisServers('redis-sentinel');
  const password = `data-pw-${randomBytes(6).toString('hex')}`;
  const sentinelPassword = `sentinel-pw-${randomBytes(6).toString('hex')}`;
  let nodes: { primary: RedisProcess; replica: RedisProcess };
  let sentinels: RedisProcess[];
  let webhooks: WebhookStack;
  const children: Array<ReturnType<typeof startCli>> = [];
  let resourceId = 900;

  beforeAll(async () => {
    const auth = ['--requirepass', password, '--masterauth', password];
    // Durable as the README advises: AOF on both, fsync'd every second.
    const durable = ['--appendonly', 'yes', '--appendfsync', 'everysec'];
    const primary = await servers.server('node-a', { args: [...auth, ...durable] });
    const replica = await servers.server('node-b', {
      args: [...auth, ...durable, '--replicaof', '127.0.0.1', String(primary.port)],
    });
    await replica.logShows(/MASTER <-> REPLICA sync: Finished with success/);
    nodes = { primary, replica };
    sentinels = [];
    for (const name of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
      sentinels.push(
        await servers.sentinel(name, {
          name: NAME,
          primaryPort: primary.port,
          quorum: 2,
          primaryPassword: password,
          password: sentinelPassword,
          downAfterMs: 1000,
        }),
      );
    }
    // A failover needs Sentinels that know the replica and each other.
    for (const sentinel of sentinels) {
      await sentinel.logShows(new RegExp(`\\+slave slave 127\\.0\\.0\\.1:${replica.port}`));
      await sentinel.logShows(/\+sentinel sentinel[\s\S]*\+sentinel sentinel/);
    }
    webhooks = await startWebhookStack({
      name: 'redis-sentinel',
      redis: {
        REDIS_SENTINELS: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
        REDIS_SENTINEL_NAME: NAME,
        REDIS_PASSWORD: password,
        REDIS_SENTINEL_PASSWORD: sentinelPassword,
      },
    });
    // A worker in this process (the library) for both failovers; the CLI's are started by each.
    await webhooks.stack.runtime.startWorker({ concurrency: 8 });
  }, 60_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await webhooks?.close();
    await servers.close();
  });

  /** Waits until every Sentinel has moved the primary from `from` to `to`. */
  async function switched(from: RedisProcess, to: RedisProcess): Promise<void> {
    const announcement = new RegExp(
      `\\+switch-master ${NAME} 127\\.0\\.0\\.1 ${from.port} 127\\.0\\.0\\.1 ${to.port}`,
    );
    for (const sentinel of sentinels) await sentinel.logShows(announcement, 30_000);
  }

  /**
   * A batch of watches (enqueued by the CLI and the library, worked by this process and a CLI
   * worker, one awaited by a CLI `wait`), `failover()` once a few have ended, three more watches
   * started while it runs (library, API, CLI); then every watch must end with the outcome the
   * simulator gave its action, once on the events stream, with one webhook message. (A forced
   * SENTINEL FAILOVER is not run here: with one replica, a Sentinel that has not yet heard of the
   * new epoch may turn the just-promoted replica back, which tests Sentinel more than us.)
   */
  async function batchThroughFailover(failover: () => Promise<void>): Promise<void> {
    const { stack, receiver } = webhooks;
    const { simulator, runtime } = stack;
    const truth = new Map<string, Action['status']>();
    const newAction = (durationMs: number, result: 'completed' | 'errored') => {
      resourceId += 1;
      const action = simulator.createAction({
        kind: 'droplet',
        resourceId,
        type: 'reboot',
        durationMs,
        result,
      });
      const id = `droplet-${resourceId}-${action.id}`;
      truth.set(id, result);
      return { kind: 'droplet' as const, resourceId, actionId: action.id, id };
    };
    const endedOf = async () => {
      const records = await runtime.watches.outcomes.getMany([...truth.keys()]);
      return records.filter((record) => record !== undefined).length;
    };

    const worker = startCli(
      ['worker', '--concurrency', '8'],
      stack.processEnv({
        WEBHOOK_URL: receiver.url(),
        WEBHOOK_SECRET: webhooks.secret,
        WEBHOOK_ALLOW_PRIVATE: 'true',
      }),
    );
    const api = startCli(['serve', '--port', '0'], stack.processEnv());
    children.push(worker, api);
    const base = await until(
      () => /serving the actionwatch API at (http:\/\/[^\s"]+)/.exec(api.output())?.[1],
    );

    // The batch: actions ending from under a second to well after the failover.
    const batch = Array.from({ length: 24 }, (_, i) =>
      newAction(400 + i * 350, i % 3 === 0 ? 'errored' : 'completed'),
    );
    const lines = batch
      .slice(0, 12)
      .map(({ kind, resourceId, actionId }) => JSON.stringify({ kind, resourceId, actionId }));
    const fromFile = await runCli(['watch', '--from-file', '-'], stack.processEnv(), `${lines.join('\n')}\n`);
    expect(fromFile.code).toBe(0);
    await runtime.watches.watchMany(batch.slice(12));
    // A CLI `wait` on the longest one is blocked on the events stream through the failover.
    const longest = batch.at(-1) as (typeof batch)[number];
    const waiting = runCli(
      ['wait', 'droplet', String(longest.resourceId), String(longest.actionId)],
      stack.processEnv(),
      '',
      90_000,
    );

    // The failover, once some outcomes are in and most are not.
    const endedBefore = await until(async () => {
      const ended = await endedOf();
      return ended >= 4 ? ended : undefined;
    }, 20_000);
    const failingOver = failover();
    expect(endedBefore).toBeLessThan(batch.length / 2);

    // Meanwhile the library, the API and the CLI each start a watch.
    const library = newAction(1500, 'completed');
    const overApi = newAction(1500, 'errored');
    const overCli = newAction(1500, 'completed');
    const during = await Promise.all([
      runtime.watches.watch({
        kind: library.kind,
        resourceId: library.resourceId,
        actionId: library.actionId,
      }),
      fetch(`${base}/v1/watches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          kind: overApi.kind,
          resourceId: overApi.resourceId,
          actionId: overApi.actionId,
        }),
      }),
      runCli(
        ['watch', 'droplet', String(overCli.resourceId), String(overCli.actionId)],
        stack.processEnv(),
        '',
        90_000,
      ),
    ]);
    expect(during[0].created).toBe(true);
    expect(during[1].status).toBe(201);
    expect(during[2].stderr).toBe('');
    expect(during[2].code).toBe(0);
    await failingOver;

    // Every watch ends with the outcome the simulator gave its action.
    const all = [...batch, library, overApi, overCli];
    const outcomes = await Promise.all(
      all.map(async ({ id }) => (await runtime.waitForOutcome(id, { timeoutMs: 60_000 })) as OutcomeRecord),
    );
    expect(Object.fromEntries(outcomes.map((record, index) => [all[index]?.id, record?.outcome]))).toEqual(
      Object.fromEntries(truth),
    );
    const waited = await waiting;
    expect(waited.code).toBe(truth.get(longest.id) === 'completed' ? 0 : 2);
    expect(JSON.parse(waited.stdout)).toMatchObject({ id: longest.actionId, status: truth.get(longest.id) });
    const overHttp = await fetch(`${base}/v1/watches/${overApi.id}/wait?timeout=30s`);
    expect(await overHttp.json()).toMatchObject({ outcome: 'errored' });

    // Once each on the events stream (on the primary now serving)...
    const events = await runtime.redis.xrange(`${stack.prefix}:events`, '-', '+');
    const eventsPerWatch = new Map<string, number>();
    for (const [, fields] of events) {
      const watchId = fields[fields.indexOf('watch') + 1] ?? '';
      if (truth.has(watchId)) eventsPerWatch.set(watchId, (eventsPerWatch.get(watchId) ?? 0) + 1);
    }
    expect(Object.fromEntries(eventsPerWatch)).toEqual(Object.fromEntries(all.map(({ id }) => [id, 1])));

    // ...and one webhook message each (one webhook-id, delivered and verified; retries share the id).
    const delivered = await until(() => {
      const byWatch = new Map<string, Set<string>>();
      for (const request of receiver.successes().filter((each) => each.verified)) {
        const watchId = (JSON.parse(request.body) as { data: OutcomeRecord }).data.watch.id;
        if (truth.has(watchId)) byWatch.set(watchId, (byWatch.get(watchId) ?? new Set()).add(request.id));
      }
      return byWatch.size >= all.length ? byWatch : undefined;
    }, 30_000);
    expect(Object.fromEntries([...delivered].map(([watchId, ids]) => [watchId, ids.size]))).toEqual(
      Object.fromEntries(all.map(({ id }) => [id, 1])),
    );

    // The CLI worker and the API are still up, and stop cleanly.
    for (const child of [worker, api]) {
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
    }
    const output = `${worker.output()}${api.output()}${stack.logs.raw.join('\n')}`;
    expect(output).not.toContain(password);
    expect(output).not.toContain(sentinelPassword);
  }

  it('the primary is killed: workers, the API and the CLI ride through; every watch ends with its true outcome, once, with its event and webhook', async () => {
    const { primary, replica } = nodes;
    await batchThroughFailover(async () => {
      await primary.kill();
      await switched(primary, replica);
    });
    // The operator saw the connection go and come back.
    const { logs } = webhooks.stack;
    const lost = logs.find(
      (line) => line.msg === 'redis connection lost; reconnecting (commands wait for it)',
    );
    expect(lost[0]).toMatchObject({ level: 40 });
    expect(logs.find((line) => line.msg === 'redis connection restored')[0]).toMatchObject({ level: 30 });
  }, 180_000);
});
