import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/cli-error.js';
import { Secret } from '../src/config/secret.js';
import { DigitalOceanClient } from '../src/digitalocean/client.js';
import { ActionWatcher } from '../src/index.js';
import { runCli } from './support/cli.js';
import { CLIENT_OPERATIONS } from './support/digitalocean-fixtures.js';
import { Prism } from './support/prism.js';
import { type RecordedRequest, SimulatorProxy } from './support/simulator-proxy.js';
import { SIM_TOKEN, type Stack, type StackOptions, startStack, until } from './support/stack.js';

/**
 * Contract tests with a validator nobody on this project wrote: Stoplight Prism, on the vendored
 * DigitalOcean OpenAPI description (test/fixtures/digitalocean/openapi.yaml).
 *
 * - `prism proxy <spec> <simulator> --errors` sits between the client and the simulator and checks
 *   every request the client sends and every answer the simulator gives; a recording proxy in
 *   front of it keeps Prism's verdict on each exchange (`sl-violations`, or a problem+json error).
 * - `prism mock --dynamic` answers every request with random values valid under the schemas: other
 *   actions' ids, negative ids, bare actions where we expect `{"action": …}`. The client must
 *   still never send a POST twice, never end a watch on another action's answer, and never watch
 *   an id below 1 (issue 10 items 1 and 2), as a user's commands and as the library.
 */

function operationOf({ method, path }: RecordedRequest): string | undefined {
  const pathname = path.split('?')[0] ?? '';
  return CLIENT_OPERATIONS.find((operation) => {
    const [verb, template] = operation.split(' ') as [string, string];
    return verb === method && new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname);
  });
}

/** Prism's complaints about the recorded exchanges: one line per exchange it found fault with. */
function violations(requests: RecordedRequest[]): string[] {
  return requests.flatMap((request) => {
    const { answer } = request;
    const exchange = `${request.method} ${request.path} → ${answer?.status ?? 'no answer'}`;
    if (answer === undefined) return [exchange];
    const found = answer.headers['sl-violations'];
    const problem = /problem\+json/.test(String(answer.headers['content-type']));
    if (found === undefined && !problem) return [];
    return [`${exchange}: ${found ?? answer.body}`];
  });
}

/** The action id in a recorded answer: `{"action": {"id"}}`, or a bare action as the spec has for images. */
function answeredActionId(request: RecordedRequest): unknown {
  const body = JSON.parse(request.answer?.body ?? 'null') as {
    action?: { id?: unknown };
    id?: unknown;
  } | null;
  return body?.action?.id ?? body?.id;
}

/** A stack, Prism (started on its simulator's URL) and a recorder in front of Prism, for one describe. */
function withPrism(options: StackOptions, start: (simulatorUrl: string) => Promise<Prism>) {
  const ctx = {} as { stack: Stack; prism: Prism; recorder: SimulatorProxy };
  beforeAll(async () => {
    ctx.stack = await startStack(options);
    ctx.prism = await start(ctx.stack.simulator.url);
    ctx.recorder = await SimulatorProxy.start(ctx.prism.url);
  }, 90_000);
  afterAll(async () => {
    await ctx.recorder?.close();
    await ctx.prism?.close();
    await ctx.stack?.close();
  });
  return ctx;
}

describe('through Prism’s validating proxy, every request the client sends and every answer the simulator gives is valid under the spec', () => {
  const ctx = withPrism(
    {
      name: 'prism-proxy',
      simulator: { rateLimit: { perMinute: 5000, perHour: 50_000 }, defaultDurationMs: 800 },
    },
    (simulator) => Prism.proxy(simulator),
  );

  function client(token = SIM_TOKEN): DigitalOceanClient {
    return new DigitalOceanClient({ baseUrl: ctx.recorder.url, token: new Secret(token), retries: 0 });
  }

  it('every endpoint we call, answered with success and with each documented error', async () => {
    const from = ctx.recorder.requests.length;
    const sim = ctx.stack.simulator;
    const api = client();
    const droplet = sim.createAction({ kind: 'droplet', resourceId: 3101, type: 'power_cycle' });
    const image = sim.createAction({ kind: 'image', resourceId: 3201, type: 'transfer', region: 'ams3' });
    for (let i = 0; i < 3; i++) sim.createAction({ kind: 'droplet', resourceId: 3102, durationMs: 60_000 });

    // Successes, on every endpoint.
    await api.listActions({ page: 2, perPage: 2 });
    await api.getAction(droplet.id);
    await api.listDropletActions(3101);
    await api.getDropletAction(3101, droplet.id);
    await api.listImageActions(3201, { perPage: 200 });
    await api.getImageAction(3201, image.id);
    const snapshot = await api.initiateDropletAction(3103, { type: 'snapshot', name: 'prism-nightly' });
    await api.initiateDropletAction(3104, { type: 'reboot' });
    await api.initiateImageAction(3202, { type: 'transfer', region: 'sgp1' });
    await api.initiateImageAction(3203, { type: 'convert' });
    // Volume and address actions, with the request bodies `run` sends (runs/resource-actions.ts).
    const volume = '7d3c2a10-5b4e-4c1f-9a8d-000000003301';
    sim.ensureResource('volume', volume, 'nyc1');
    await api.initiateResourceAction('volume', volume, { type: 'attach', droplet_id: 3104, region: 'nyc1' });
    await api.initiateResourceAction('volume', volume, { type: 'detach', droplet_id: 3104 });
    await api.initiateResourceAction('volume', volume, {
      type: 'resize',
      size_gigabytes: 100,
      region: 'nyc1',
    });
    await api.listResourceActions('volume', volume);
    for (const kind of ['reserved_ip', 'floating_ip'] as const)
      sim.ensureResource(kind, '203.0.113.33', 'nyc1');
    await api.initiateResourceAction('reserved_ip', '203.0.113.33', { type: 'assign', droplet_id: 3104 });
    await api.initiateResourceAction('floating_ip', '203.0.113.33', { type: 'unassign' });
    await api.listResourceActions('reserved_ip', '203.0.113.33');
    sim.ensureResource('reserved_ipv6', '2001:db8::33', 'nyc1');
    await api.initiateResourceAction('reserved_ipv6', '2001:db8::33', { type: 'assign', droplet_id: 3104 });
    sim.finishAction(snapshot.id, 'completed');
    const snapshots: Array<{ id: number }> = [];
    for await (const found of api.iterateDropletSnapshots(3103)) snapshots.push(found);
    expect(snapshots).toHaveLength(1);
    await api.getImage(snapshots[0]?.id ?? 0);

    // Documented errors: 404, 422 (a busy droplet, an unknown type), 401, 429 and 500.
    const refused = (call: Promise<unknown>) =>
      call.then(
        () => 'answered',
        (error: { status?: number }) => error.status,
      );
    expect(await refused(api.getAction(987_654_321))).toBe(404);
    expect(await refused(api.getImage(987_654_321))).toBe(404);
    expect(await refused(api.initiateDropletAction(3102, { type: 'reboot' }))).toBe(422);
    expect(await refused(api.initiateImageAction(3203, { type: 'transfer' } as never))).toBe(422);
    const calls: Array<(api: DigitalOceanClient) => Promise<unknown>> = [
      (a) => a.listActions(),
      (a) => a.getAction(droplet.id),
      (a) => a.listDropletActions(3101),
      (a) => a.getDropletAction(3101, droplet.id),
      (a) => a.initiateDropletAction(3105, { type: 'reboot' }),
      (a) => a.listImageActions(3201),
      (a) => a.getImageAction(3201, image.id),
      (a) => a.initiateImageAction(3204, { type: 'convert' }),
      (a) => a.getImage(snapshots[0]?.id ?? 0),
      (a) => a.iterateDropletSnapshots(3103).next(),
    ];
    for (const call of calls) {
      expect(await refused(call(client('revoked-token')))).toBe(401);
      sim.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 2 });
      expect(await refused(call(api))).toBe(429);
      sim.injectFault({ kind: 'status', status: 500 });
      expect(await refused(call(api))).toBe(500);
    }

    const exchanges = ctx.recorder.requests.slice(from);
    expect(violations(exchanges)).toEqual([]);
    expect(new Set(exchanges.map(operationOf))).toEqual(new Set(CLIENT_OPERATIONS));
    expect(new Set(exchanges.map((request) => request.answer?.status))).toEqual(
      new Set([200, 201, 202, 401, 404, 422, 429, 500]),
    );
  }, 60_000);

  it('catches what is not valid: an answer off the schema, a request off the parameters', async () => {
    const from = ctx.recorder.requests.length;
    const action = ctx.stack.simulator.createAction({ kind: 'droplet', resourceId: 3401 });
    ctx.stack.simulator.injectFault({ kind: 'wrong-shape', body: { action: { id: 'three', status: 7 } } });
    const headers = { authorization: `Bearer ${SIM_TOKEN}` };
    const offSchema = await fetch(`${ctx.recorder.url}/v2/actions/${action.id}`, { headers });
    expect(offSchema.status).toBe(500);
    const offParameters = await fetch(`${ctx.recorder.url}/v2/actions?per_page=1000`, { headers });
    expect(offParameters.status).toBe(422);
    await Promise.all([offSchema.text(), offParameters.text()]);
    const found = violations(ctx.recorder.requests.slice(from));
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/response.*action.*id/s);
    expect(found[1]).toMatch(/per_page/);
  });

  it.each(['direct', 'batched'])(
    '%s observation: runs, watches, a chain and listings, end to end through Prism',
    async (mode) => {
      const from = ctx.recorder.requests.length;
      const base = mode === 'direct' ? 4000 : 5000;
      const aw = await ActionWatcher.create({
        env: ctx.stack.processEnv({
          DIGITALOCEAN_API_URL: ctx.recorder.url,
          OBSERVE_MODE: mode,
          ACTIONWATCH_PREFIX: `${ctx.stack.prefix}-${mode}`,
          LOG_LEVEL: 'silent',
        }),
        worker: true,
      });
      try {
        const sim = ctx.stack.simulator;
        sim.ensureResource('image', base + 1);
        sim.ensureResource('droplet', base + 2);
        const running = sim.createAction({ kind: 'droplet', resourceId: base + 3, durationMs: 1500 });

        const transfer = await aw.run({
          kind: 'image',
          resourceId: base + 1,
          type: 'transfer',
          region: 'ams3',
        });
        const reboot = await aw.run({ kind: 'droplet', resourceId: base + 2, type: 'reboot' });
        const watched = await aw.watchInProgress('droplet', base + 3);
        expect(watched.map((watch) => watch.actionId)).toEqual([running.id]);
        const chain = await aw.chain({
          name: `prism-${mode}`,
          steps: [
            {
              id: 'snapshot',
              run: { droplet: base + 4, type: 'snapshot', params: { name: `prism-${mode}` } },
            },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a chain reference
            { id: 'transfer', run: { image: '${steps.snapshot.imageId}', type: 'transfer', region: 'sfo3' } },
          ],
        });
        for (const watch of [transfer.watch, reboot.watch, ...watched]) {
          expect((await aw.waitFor(watch, { timeout: '20s' })).outcome).toBe('completed');
        }
        expect((await aw.waitForChain(chain, { timeout: '30s' })).outcome).toBe('completed');
        const listed = [];
        for await (const action of aw.actions('droplet', base + 3)) listed.push(action.id);
        expect(listed).toEqual([running.id]);
      } finally {
        await aw.close();
      }
      const exchanges = ctx.recorder.requests.slice(from);
      expect(exchanges.length).toBeGreaterThan(5);
      expect(violations(exchanges)).toEqual([]);
      expect(exchanges.filter((request) => operationOf(request) === undefined)).toEqual([]);
    },
    60_000,
  );

  // Issue 10 item 3 (branch issue-10a): Prism forwards without the Host header, so the simulator's
  // page links name the simulator itself, not the address the client was configured with.
  it('[issue 10 item 3] a listing through a proxy is read to its end by following page links on the configured base URL', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++)
      ids.push(ctx.stack.simulator.createAction({ kind: 'image', resourceId: 3301 }).id);
    const listed = [];
    for await (const action of client().iterateResourceActions('image', 3301, { perPage: 2 }))
      listed.push(action.id);
    expect(listed.sort()).toEqual(ids.sort());
    const pages = ctx.recorder.requests.filter((request) =>
      request.path.startsWith('/v2/images/3301/actions'),
    );
    expect(pages.map((request) => new URL(request.path, ctx.recorder.url).searchParams.get('page'))).toEqual([
      '1',
      '2',
      '3',
    ]);
    expect(violations(pages)).toEqual([]);
  });
});

describe('[issue 10 items 1–2] against Prism’s mock of random schema-valid answers', () => {
  // The simulator serves nothing here: the stack gives the Redis prefix and its cleanup.
  const ctx = withPrism({ name: 'prism-mock' }, () => Prism.mock());

  async function watcher(mode: 'direct' | 'batched'): Promise<ActionWatcher> {
    return ActionWatcher.create({
      env: ctx.stack.processEnv({
        DIGITALOCEAN_API_URL: ctx.recorder.url,
        DIGITALOCEAN_TOKEN: 'mock-token',
        DIGITALOCEAN_TIMEOUT: '2s',
        OBSERVE_MODE: mode,
        ACTIONWATCH_PREFIX: `${ctx.stack.prefix}-${mode}`,
        POLL_MAX_INTERVAL: '300ms',
        LOG_LEVEL: 'silent',
      }),
      worker: true,
    });
  }

  it('a POST answered 2xx is sent once, and no watch is ever of an action id below 1', async () => {
    const aw = await watcher('direct');
    try {
      type Start = { kind: 'image' | 'droplet'; resourceId: number; result: unknown; error: unknown };
      const starts: Start[] = [];
      const posted = (start: Start) =>
        ctx.recorder.requests.filter(
          (request) =>
            request.method === 'POST' && request.path === `/v2/${start.kind}s/${start.resourceId}/actions`,
        );
      const answeredIds = () => starts.flatMap((start) => posted(start).map(answeredActionId));
      // Random answers: start actions until Prism has answered both a positive and a non-positive id.
      for (let round = 0; round < 10; round++) {
        const batch: Array<Promise<Start>> = [];
        for (let i = 0; i < 4; i++) {
          const n = round * 4 + i;
          const kind = n % 2 === 0 ? 'image' : 'droplet';
          const resourceId = (kind === 'image' ? 7_555_000 : 3_164_000) + n;
          const request =
            kind === 'image'
              ? { kind, resourceId, type: 'transfer', region: 'nyc3' }
              : { kind, resourceId, type: 'reboot' };
          batch.push(
            aw.run(request as Parameters<ActionWatcher['run']>[0], { key: `mock-${n}` }).then(
              (result) => ({ kind, resourceId, result, error: undefined }),
              (error: unknown) => ({ kind, resourceId, result: undefined, error }),
            ),
          );
        }
        starts.push(...(await Promise.all(batch)));
        const ids = answeredIds();
        if (
          ids.some((id) => typeof id === 'number' && id < 1) &&
          ids.some((id) => typeof id === 'number' && id > 0)
        )
          break;
      }

      for (const start of starts) {
        const posts = posted(start);
        expect(posts.map((request) => request.answer?.status)).toEqual([201]);
        const answered = answeredActionId(posts[0] as RecordedRequest);
        const watch = (start.result as { watch?: { actionId: number } } | undefined)?.watch;
        if (watch !== undefined) {
          expect(watch.actionId).toBe(answered);
          expect(Number.isSafeInteger(watch.actionId) && watch.actionId > 0).toBe(true);
        } else {
          expect(String(start.error)).toMatch(
            new RegExp(`actionwatch actions ${start.kind} ${start.resourceId}`),
          );
        }
        if (typeof answered !== 'number' || answered < 1) expect(watch).toBeUndefined();
      }
      expect(answeredIds().some((id) => typeof id === 'number' && id < 1)).toBe(true);
      const { watches } = await aw.runtime.watches.list({ state: 'all', limit: 1000 });
      expect(watches.filter((watch) => !((watch.actionId ?? 0) > 0))).toEqual([]);
    } finally {
      await aw.close();
    }
  }, 120_000);

  it('the commands of the issue, as a user runs them: one POST and exit 6; a wait that no other action ends', async () => {
    const env = ctx.stack.processEnv({
      DIGITALOCEAN_API_URL: ctx.recorder.url,
      DIGITALOCEAN_TOKEN: 'mock-token',
      DIGITALOCEAN_TIMEOUT: '2s',
      ACTIONWATCH_PREFIX: `${ctx.stack.prefix}-cli`,
      OBSERVE_MODE: 'direct',
      POLL_MAX_INTERVAL: '300ms',
    });
    const from = ctx.recorder.requests.length;
    const run = await runCli(['run', 'image', '7555620', 'transfer', '--region', 'nyc3'], env);
    expect(run.code, run.stderr).toBe(EXIT.probably_started);
    expect(run.stderr).toMatch(/actionwatch actions image 7555620/);
    const posts = ctx.recorder.requests.slice(from).filter((request) => request.method === 'POST');
    expect(posts.map((request) => `${request.path} ${request.answer?.status}`)).toEqual([
      '/v2/images/7555620/actions 201',
    ]);

    const wait = await runCli(
      ['wait', 'droplet', '3164444', '36804636', '--timeout', '3s', '--with-worker'],
      env,
    );
    expect(wait.code, wait.stderr).toBe(EXIT.timed_out);
    const polls = ctx.recorder.requests
      .slice(from)
      .filter((request) => request.path === '/v2/droplets/3164444/actions/36804636');
    expect(polls.filter((request) => request.answer?.status === 200).length).toBeGreaterThan(2);
  }, 60_000);

  it.each(['direct', 'batched'] as const)(
    '%s observation: an answer about another action never ends a watch',
    async (mode) => {
      const aw = await watcher(mode);
      try {
        const from = ctx.recorder.requests.length;
        const refs = [
          { kind: 'droplet', resourceId: 3164444, actionId: 36804636 },
          { kind: 'image', resourceId: 7555620, actionId: 29410565 },
        ] as const;
        const watches = await Promise.all(refs.map((ref) => aw.watch(ref, { timeout: '10m' })));
        // Wait until each watch has been looked at several times, by its own GET or by a list sweep.
        const answeredFor = (ref: (typeof refs)[number]) =>
          ctx.recorder.requests
            .slice(from)
            .filter(
              (request) =>
                request.answer?.status === 200 &&
                (request.path.startsWith(`/v2/${ref.kind}s/${ref.resourceId}/actions/${ref.actionId}`) ||
                  request.path.startsWith(`/v2/actions/${ref.actionId}`) ||
                  request.path.startsWith('/v2/actions?')),
            );
        // Stop early when a watch ends: that is the failure this test looks for.
        const ended = async () =>
          (await aw.runtime.watches.getMany(watches.map((watch) => watch.id))).some(
            (watch) => watch?.state !== 'waiting',
          );
        await until(async () => refs.every((ref) => answeredFor(ref).length >= 6) || (await ended()), 30_000);
        for (const watch of watches) {
          expect(await aw.runtime.watches.get(watch.id)).toMatchObject({ state: 'waiting', outcome: null });
        }
        for (const ref of refs) {
          for (const request of answeredFor(ref)) expect(answeredActionId(request)).not.toBe(ref.actionId);
        }
      } finally {
        await aw.close();
      }
    },
    60_000,
  );
});
