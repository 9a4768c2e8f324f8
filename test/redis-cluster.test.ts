import calculateSlot from 'cluster-key-slot';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { budgetKeys } from '../src/digitalocean/request-budget.js';
import { buildServer } from '../src/http/server.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { Runtime } from '../src/runtime.js';
import { Simulator } from '../src/simulator/simulator.js';
import { hashTagOf } from '../src/support/key-prefix.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { eventsKey } from '../src/watches/keys.js';
import type { Watch } from '../src/watches/watch.js';
import { WebhookReceiver } from './fixtures/webhook-receiver.js';
import { testSecret } from './fixtures/webhook-records.js';
import { runCli } from './support/cli.js';
import { hasRedisServer, RedisCluster } from './support/redis-cluster.js';
import { LogCapture, testPrefix, until } from './support/stack.js';

const TOKEN = 'cluster-token';
const TEAM_B_TOKEN = 'cluster-token-team-b';
const SECRET = testSecret();

/**
 * A test prefix whose deployment slot and profile team_b's slot fall in different thirds of the
 * slot range, which `redis-cli --cluster create` gives to different primaries.
 */
function prefixOnTwoShards(): string {
  const third = (key: string) => Math.floor(calculateSlot(key) / (16_384 / 3));
  for (;;) {
    const prefix = testPrefix('cluster');
    if (third(`{${prefix}}`) !== third(`{${prefix}:team_b}`)) return prefix;
  }
}

interface EventEntry {
  id: string;
  type: string;
  subject: string;
}

/**
 * The whole product on a real Redis Cluster (three primaries, each with a replica, started by the
 * test): watches of two token profiles observed in batched mode, webhooks, a chain and the HTTP
 * API; then a primary killed in the middle of a batch of watches.
 */
describe.skipIf(!hasRedisServer)('on a Redis Cluster of three primaries with replicas', () => {
  let cluster: RedisCluster;
  let simulator: Simulator;
  let receiver: WebhookReceiver;
  let runtime: Runtime;
  let app: FastifyInstance;
  let watcher: ActionWatcher;
  const logs = new LogCapture('warn');
  const configuredPrefix = prefixOnTwoShards();
  let env: Record<string, string>;
  let nextResource = 9_100;

  beforeAll(async () => {
    [cluster, simulator, receiver] = await Promise.all([
      RedisCluster.start({ primaries: 3, replicas: 1 }),
      Simulator.start({ tokens: [TOKEN, TEAM_B_TOKEN], rateLimit: false }),
      WebhookReceiver.start({ secret: SECRET }),
    ]);
    env = {
      REDIS_CLUSTER_NODES: cluster.nodesVariable,
      ACTIONWATCH_PREFIX: configuredPrefix,
      DIGITALOCEAN_API_URL: simulator.url,
      DIGITALOCEAN_TOKEN: TOKEN,
      DIGITALOCEAN_TOKEN_TEAM_B: TEAM_B_TOKEN,
      POLL_MIN_INTERVAL: '200ms',
      POLL_MAX_INTERVAL: '1s',
      WORKER_LOCK_DURATION: '3s',
      WEBHOOK_URL: receiver.url('/hook'),
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_TIMEOUT: '2s',
    };
    runtime = new Runtime(loadConfig(env), logs.logger);
    await runtime.startWorker({ concurrency: 20 });
    await runtime.startChainWorker();
    app = await buildServer(runtime);
    watcher = ActionWatcher.fromRuntime(runtime);
  }, 120_000);

  afterAll(async () => {
    const closing = (async () => {
      await app?.close();
      await watcher?.close();
      await runtime?.close();
      await receiver?.close();
      await simulator?.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    try {
      // A close that never finishes (workers stuck after a failover) fails here, and the cluster
      // is stopped all the same rather than left running.
      await Promise.race([
        closing,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('closing the runtime took over 30 s')), 30_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      await cluster?.stop();
    }
  }, 60_000);

  function action(options: { result?: 'completed' | 'errored'; durationMs: number; profile?: 'team_b' }) {
    nextResource += 1;
    const kind = nextResource % 2 === 0 ? 'droplet' : 'image';
    const created = simulator.createAction({
      kind,
      resourceId: nextResource,
      durationMs: options.durationMs,
      result: options.result ?? 'completed',
    });
    return {
      kind,
      resourceId: nextResource,
      actionId: created.id,
      result: options.result ?? 'completed',
      ...(options.profile === undefined ? {} : { tokenProfile: options.profile }),
    } as const;
  }

  async function events(): Promise<EventEntry[]> {
    const raw = (await runtime.redis.xrange(eventsKey(runtime.config.prefix), '-', '+')) as Array<
      [string, string[]]
    >;
    return raw.map(([id, fields]) => {
      const field = (name: string) => fields[fields.indexOf(name) + 1] ?? '';
      return { id, type: field('type'), subject: field('watch') };
    });
  }

  /** Distinct webhook ids received per watch (or chain) id, from WEBHOOK_URL's messages. */
  function webhookIdsBySubject(): Map<string, Set<string>> {
    const ids = new Map<string, Set<string>>();
    for (const request of receiver.received) {
      expect(request.verified).toBe(true);
      const { data } = JSON.parse(request.body) as {
        data: { watch?: { id: string }; chain?: { id: string } };
      };
      const subject = data.watch?.id ?? data.chain?.id ?? '';
      const seen = ids.get(subject) ?? new Set<string>();
      seen.add(request.id);
      ids.set(subject, seen);
    }
    return ids;
  }

  async function finished(watchIds: string[], timeoutMs: number): Promise<Watch[]> {
    return until(async () => {
      const watches = await runtime.watches.getMany(watchIds);
      return watches.every((watch) => watch?.state === 'done') ? (watches as Watch[]) : undefined;
    }, timeoutMs);
  }

  it('keys the deployment under {prefix} and profile team_b under {prefix:team_b}, on different slots', () => {
    expect(runtime.config.prefix).toBe(`{${configuredPrefix}}`);
    const events = eventsKey(runtime.config.prefix);
    const teamB = budgetKeys(runtime.config.prefix, 'team_b').hour;
    expect(hashTagOf(events)).toBe(configuredPrefix);
    expect(hashTagOf(teamB)).toBe(`${configuredPrefix}:team_b`);
    expect(calculateSlot(events)).not.toBe(calculateSlot(teamB));
  });

  it('runs the whole flow: batched watches of two profiles through the HTTP API, webhooks, a chain, live events', async () => {
    const planned = [
      action({ durationMs: 600 }),
      action({ durationMs: 1_500 }),
      action({ durationMs: 2_500, result: 'errored' }),
      action({ durationMs: 1_000 }),
      action({ durationMs: 1_200, profile: 'team_b' }),
      action({ durationMs: 2_000, profile: 'team_b', result: 'errored' }),
    ];
    const batch = await app.inject({
      method: 'POST',
      url: '/v1/watches/batch',
      payload: { watches: planned.map(({ result: _, ...ref }) => ref) },
    });
    expect(batch.statusCode, batch.body).toBe(201);
    const ids = (batch.json() as { results: Array<{ watch: Watch }> }).results.map(({ watch }) => watch.id);
    expect(ids.filter((id) => id.startsWith('team_b.'))).toHaveLength(2);

    simulator.ensureResource('droplet', 9_001);
    const chain = await watcher.chain({
      name: 'cluster-chain',
      steps: [
        { id: 'reboot', run: { droplet: 9_001, type: 'reboot' } },
        { id: 'off', run: { droplet: 9_001, type: 'power_off' } },
      ],
    });

    for (const [index, id] of ids.entries()) {
      const waited = await app.inject({ method: 'GET', url: `/v1/watches/${id}/wait?timeout=30s` });
      expect(waited.statusCode, waited.body).toBe(200);
      expect((waited.json() as Watch).outcome).toBe(planned[index]?.result);
    }
    const chainOutcome = await watcher.waitForChain(chain, { timeout: 30_000 });
    expect(chainOutcome.outcome).toBe('completed');

    // Batched observation served them: the sweepers' list pages, not one GET per poll.
    expect(runtime.batching?.totals.viaAccountList ?? 0).toBeGreaterThan(0);

    // One event per outcome, in the deployment's one stream.
    const chainWatches = chainOutcome.steps.flatMap((step) =>
      step.runs.map((run) => `${run.kind}-${run.resourceId}-${run.actionId}`),
    );
    const subjects = [...ids, ...chainWatches, chain.id];
    const stream = await events();
    expect(stream.map((entry) => entry.subject).sort()).toEqual([...subjects].sort());
    expect(stream.find((entry) => entry.subject === chain.id)?.type).toBe('chain.completed');

    // A signed webhook for each, delivered once.
    await until(() => (webhookIdsBySubject().size >= subjects.length ? true : undefined), 20_000);
    const byWatch = webhookIdsBySubject();
    for (const subject of subjects) expect(byWatch.get(subject)?.size, subject).toBe(1);

    // The live event stream replays them from the start.
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as { port: number };
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${address.port}/v1/events?lastEventId=0`, {
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while ((text.match(/^id: /gm) ?? []).length < subjects.length) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect((text.match(/^id: /gm) ?? []).length).toBe(subjects.length);

    const listed = await app.inject({ method: 'GET', url: '/v1/watches?state=done&limit=100' });
    expect((listed.json() as { watches: Watch[] }).watches.map((watch) => watch.id)).toEqual(
      expect.arrayContaining(ids),
    );
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    // The deployment's data and team_b's sit on two primaries.
    const deploymentSlot = calculateSlot(eventsKey(runtime.config.prefix));
    const teamBSlot = calculateSlot(budgetKeys(runtime.config.prefix, 'team_b').state);
    expect((await cluster.shardOf(deploymentSlot)).primary).not.toEqual(
      (await cluster.shardOf(teamBSlot)).primary,
    );
    expect(await cluster.keysInSlot(deploymentSlot)).toBeGreaterThan(ids.length);
    expect(await cluster.keysInSlot(teamBSlot)).toBeGreaterThan(0);
  }, 90_000);

  it('primaries killed mid-batch (the deployment’s, then team_b’s) lose no watch, outcome, event or webhook; API and CLI carry on', async () => {
    const before = new Set((await events()).map((entry) => entry.id));
    const planned = Array.from({ length: 24 }, (_, index) =>
      action({
        durationMs: 1_000 + ((index * 397) % 9_000),
        ...(index % 5 === 0 ? { result: 'errored' as const } : {}),
        ...(index % 4 === 1 ? { profile: 'team_b' as const } : {}),
      }),
    );
    const results = await runtime.watches.watchMany(planned.map(({ result: _, ...ref }) => ref));
    const ids = results.map(({ watch }) => watch.id);

    // Some have ended, most are waiting: kill the primary holding the deployment's queue and stream.
    await until(async () => ((await events()).length > before.size ? true : undefined), 20_000);
    const waiting = (await runtime.watches.getMany(ids)).filter((watch) => watch?.state === 'waiting');
    expect(waiting.length).toBeGreaterThan(ids.length / 2);
    const killed = await cluster.killPrimaryOf(calculateSlot(eventsKey(runtime.config.prefix)));
    // Then the primary of team_b's queue, budget and sweeper state, on another shard.
    const teamBSlot = calculateSlot(budgetKeys(runtime.config.prefix, 'team_b').state);
    expect((await cluster.shardOf(teamBSlot)).replicas).toHaveLength(1);
    await cluster.killPrimaryOf(teamBSlot);

    const watches = await finished(ids, 60_000);
    expect(watches.map((watch) => watch.outcome)).toEqual(planned.map((planned) => planned.result));

    const fresh = (await events()).filter((entry) => !before.has(entry.id));
    expect(fresh.map((entry) => entry.subject).sort()).toEqual([...ids].sort());

    await until(() => (ids.every((id) => webhookIdsBySubject().has(id)) ? true : undefined), 30_000);
    const byWatch = webhookIdsBySubject();
    for (const id of ids) expect(byWatch.get(id)?.size, id).toBe(1);

    // The API, and a CLI process given every node (the dead one first), still answer.
    const got = await app.inject({ method: 'GET', url: `/v1/watches/${ids[0]}` });
    expect(got.statusCode).toBe(200);
    const nodes = [`${killed.host}:${killed.port}`, ...cluster.nodesVariable.split(',')].join(',');
    const listed = await runCli(['list', '--state', 'done'], {
      ...env,
      REDIS_CLUSTER_NODES: nodes,
    });
    expect(listed.code, listed.stderr).toBe(0);
    const listedIds = listed.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as Watch).id);
    expect(listedIds).toEqual(expect.arrayContaining(ids));
  }, 120_000);

  it('deleteKeysWithPrefix, on a connection just made, finds and removes keys on every primary', async () => {
    const prefixes = ['{cluster-clean-a}', '{cluster-clean-b}', '{cluster-clean-c}', '{cluster-clean-d}'];
    for (const prefix of prefixes) await runtime.redis.set(`${prefix}:key`, '1');
    const slots = new Set(
      await Promise.all(
        prefixes.map(async (prefix) => (await cluster.shardOf(calculateSlot(prefix))).primary.port),
      ),
    );
    expect(slots.size).toBeGreaterThan(1);
    const fresh = createRedis(loadConfig(env).redis);
    try {
      let deleted = 0;
      for (const prefix of prefixes) deleted += await deleteKeysWithPrefix(fresh, prefix);
      expect(deleted).toBe(prefixes.length);
    } finally {
      fresh.disconnect();
    }
    for (const prefix of prefixes) expect(await runtime.redis.exists(`${prefix}:key`)).toBe(0);
  });
});
