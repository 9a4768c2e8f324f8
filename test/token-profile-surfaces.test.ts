import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import { buildServer } from '../src/http/server.js';
import { ActionWatcher, ConfigError, InputError } from '../src/index.js';
import type { Runtime } from '../src/runtime.js';
import type { Watch } from '../src/watches/watch.js';
import { type RunOutput, runCli } from './support/cli.js';
import { SimulatorProxy } from './support/simulator-proxy.js';
import { REDIS_ENV, SIM_TOKEN, type Stack, startStack } from './support/stack.js';

const TEAM_B_TOKEN = 'tok-team-b';
const POST_IMAGE = 'POST /v2/images/:image_id/actions';

/**
 * Token profiles where users name them: the HTTP API's `tokenProfile`, `run --token-profile` and
 * the library's `tokenProfile` option. The API server's Runtime has no profile token (tokens live
 * on workers); a second Runtime, as a worker process would have, holds DIGITALOCEAN_TOKEN_TEAM_B
 * and reaches the simulator through a proxy that records which token each request carried.
 */
describe('token profiles on the HTTP API, run and the library (real Redis, simulator over HTTP)', () => {
  let stack: Stack;
  let recorder: SimulatorProxy;
  /** A worker process's Runtime: both tokens, requests recorded. */
  let profiled: Runtime;
  let app: FastifyInstance;
  /** The environment of a process that has the profile's token, through the recorder. */
  let profileEnv: Record<string, string>;

  const posts = () => stack.simulator.stats().byRoute[POST_IMAGE] ?? 0;

  async function call(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
  ): Promise<LightMyRequestResponse> {
    return app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
  }

  /** Jobs of the profile's queue, in any state (jobs move between states; the total does not). */
  async function profileJobs(): Promise<number> {
    const counts = await stack.runtime.watches.queueFor('team_b').getJobCounts();
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  /** Jobs of the default token's queue, in any state. */
  async function defaultJobs(): Promise<number> {
    const counts = await stack.runtime.watches.counts();
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  beforeAll(async () => {
    stack = await startStack({
      name: 'token-surfaces',
      simulator: { tokens: [SIM_TOKEN, TEAM_B_TOKEN], defaultDurationMs: 800 },
    });
    recorder = await SimulatorProxy.start(stack.simulator.url);
    profileEnv = {
      ...REDIS_ENV,
      ACTIONWATCH_PREFIX: stack.prefix,
      DIGITALOCEAN_API_URL: recorder.url,
      DIGITALOCEAN_TOKEN_TEAM_B: TEAM_B_TOKEN,
      POLL_MIN_INTERVAL: '200ms',
      POLL_MAX_INTERVAL: '1s',
    };
    profiled = stack.another(profileEnv);
    await profiled.startWorker({ concurrency: 8, webhooks: false });
    app = await buildServer(stack.runtime, { readinessCacheMs: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await stack?.close();
    await recorder?.close();
  });

  describe('HTTP API: tokenProfile', () => {
    it('creates a watch on the profile’s queue that a worker with that token resolves; the API server has no profile token', async () => {
      expect(stack.config.digitalocean.profiles).toEqual({});
      const teamBBefore = recorder.tokensFor(/./).filter((token) => token === TEAM_B_TOKEN).length;
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 5101, durationMs: 600 });
      const id = `team_b.droplet-5101-${action.id}`;
      const created = await call('POST', '/v1/watches', {
        kind: 'droplet',
        resourceId: 5101,
        actionId: action.id,
        tokenProfile: 'Team_B',
      });
      expect(created.statusCode).toBe(201);
      expect(created.headers.location).toBe(`/v1/watches/${id}`);
      expect(created.json()).toMatchObject({ id, state: 'waiting', tokenProfile: 'team_b' });
      // On the profile's queue, not the default token's.
      expect(await stack.runtime.watches.queueFor('team_b').getJob(id)).toBeDefined();
      expect(await stack.runtime.watches.queue.getJob(id)).toBeUndefined();

      const again = await call('POST', '/v1/watches', {
        kind: 'droplet',
        resourceId: 5101,
        actionId: action.id,
        tokenProfile: 'team_b',
      });
      expect(again.statusCode).toBe(200);
      expect(again.json().id).toBe(id);

      const waited = await call('GET', `/v1/watches/${id}/wait?timeout=20s`);
      expect(waited.statusCode).toBe(200);
      expect(waited.json()).toMatchObject({
        id,
        state: 'done',
        outcome: 'completed',
        tokenProfile: 'team_b',
        action: { id: action.id, status: 'completed' },
      });
      const got = await call('GET', `/v1/watches/${id}`);
      expect(got.statusCode).toBe(200);
      expect(got.json()).toEqual(waited.json());
      // Observed with the profile's token (one GET per poll, or list sweeps, as OBSERVE_MODE says),
      // drawn from the profile's budget; the default token never asked about this droplet.
      expect(recorder.tokensFor(/./).filter((token) => token === TEAM_B_TOKEN).length).toBeGreaterThan(
        teamBBefore,
      );
      expect(recorder.tokensFor(/^\/v2\/droplets\/5101\//).every((token) => token === TEAM_B_TOKEN)).toBe(
        true,
      );
      expect((await profiled.budget('team_b').usage()).hour.used).toBeGreaterThan(0);
    });

    it('cancels and waits on a profile watch id', async () => {
      const action = stack.simulator.createAction({ kind: 'image', resourceId: 5102, durationMs: 60_000 });
      const id = `team_b.image-5102-${action.id}`;
      const created = await call('POST', '/v1/watches', {
        kind: 'image',
        resourceId: 5102,
        actionId: action.id,
        tokenProfile: 'team_b',
      });
      expect(created.statusCode).toBe(201);
      const waiting = await call('GET', `/v1/watches/${id}/wait?timeout=300ms`);
      expect(waiting.statusCode).toBe(202);
      expect(waiting.json()).toMatchObject({ id, state: 'waiting', tokenProfile: 'team_b' });

      const cancelled = await call('DELETE', `/v1/watches/${id}`);
      expect(cancelled.statusCode).toBe(200);
      expect(cancelled.json()).toMatchObject({
        id,
        state: 'done',
        outcome: 'cancelled',
        tokenProfile: 'team_b',
      });
      const done = await call('GET', `/v1/watches/${id}/wait`);
      expect(done.statusCode).toBe(200);
      expect(done.json()).toMatchObject({ id, outcome: 'cancelled' });
      const listed = await call('GET', '/v1/watches?kind=image&limit=1000');
      expect(listed.json().watches.map((watch: Watch) => watch.id)).toContain(id);
      expect((await call('GET', '/v1/watches/team_b.image-5102-1')).statusCode).toBe(404);
      expect((await call('GET', '/v1/watches/Team.image-5102-1')).statusCode).toBe(400);
    });

    it('a batch sends each watch to its profile’s queue; the same action under two tokens is two watches', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 5103, durationMs: 60_000 });
      const response = await call('POST', '/v1/watches/batch', {
        watches: [
          { kind: 'droplet', resourceId: 5103, actionId: action.id, tokenProfile: 'team_b' },
          { kind: 'droplet', resourceId: 5103, actionId: action.id },
          { kind: 'droplet', resourceId: 5103, actionId: action.id, tokenProfile: 'default' },
        ],
      });
      expect(response.statusCode).toBe(201);
      const ids = response.json().results.map((result: { watch: Watch }) => result.watch.id);
      expect(ids).toEqual([`team_b.droplet-5103-${action.id}`, `droplet-5103-${action.id}`]);
      expect(await stack.runtime.watches.queueFor('team_b').getJob(ids[0])).toBeDefined();
      expect(await stack.runtime.watches.queue.getJob(ids[1])).toBeDefined();
      for (const id of ids)
        expect((await call('DELETE', `/v1/watches/${id}`)).json().outcome).toBe('cancelled');
    });

    it('refuses a bad tokenProfile with 400 naming the field; a batch then enqueues nothing', async () => {
      const single = await call('POST', '/v1/watches', {
        kind: 'droplet',
        resourceId: 5104,
        actionId: 1,
        tokenProfile: 'team-b',
      });
      expect(single.statusCode).toBe(400);
      expect(single.json()).toEqual({
        error: 'bad_request',
        message: expect.stringMatching(
          /^tokenProfile: token profile must be a letter then .* \(got "team-b"\)$/,
        ),
      });
      const notString = await call('POST', '/v1/watches', {
        kind: 'droplet',
        resourceId: 5104,
        actionId: 1,
        tokenProfile: 7,
      });
      expect(notString.json().message).toBe('tokenProfile must be a string');
      const tooLong = await call('POST', '/v1/watches', {
        kind: 'droplet',
        resourceId: 5104,
        actionId: 1,
        tokenProfile: 'a'.repeat(65),
      });
      expect(tooLong.json().message).toBe('tokenProfile may be at most 64 characters long');

      const defaultBefore = await defaultJobs();
      const profileBefore = await profileJobs();
      const batch = await call('POST', '/v1/watches/batch', {
        watches: [
          { kind: 'droplet', resourceId: 5104, actionId: 1, tokenProfile: 'team_b' },
          { kind: 'droplet', resourceId: 5104, actionId: 2 },
          { kind: 'droplet', resourceId: 5104, actionId: 3, tokenProfile: 'no way' },
        ],
      });
      expect(batch.statusCode).toBe(400);
      expect(batch.json().message).toMatch(
        /^watches\[2\]\.tokenProfile: token profile must be a letter then .* \(got "no way"\); nothing was enqueued$/,
      );
      expect(await defaultJobs()).toBe(defaultBefore);
      expect(await profileJobs()).toBe(profileBefore);
      expect((await call('GET', '/v1/watches/team_b.droplet-5104-1')).statusCode).toBe(404);
      expect((await call('GET', '/v1/watches/droplet-5104-2')).statusCode).toBe(404);
    });

    it('documents tokenProfile in /openapi.json', async () => {
      const document = (await call('GET', '/openapi.json')).json();
      const schemas = document.components.schemas;
      expect(schemas.WatchRequest.properties.tokenProfile).toMatchObject({
        type: 'string',
        description: expect.stringContaining('DIGITALOCEAN_TOKEN_<NAME>'),
      });
      expect(schemas.Watch.properties.tokenProfile).toMatchObject({ type: 'string' });
      const parameter = document.paths['/v1/watches/{id}'].get.parameters.find(
        (entry: { name: string }) => entry.name === 'id',
      );
      const pattern = new RegExp(parameter.schema.pattern);
      expect(pattern.test('team_b.droplet-1-2')).toBe(true);
      expect(pattern.test('droplet-1-2')).toBe(true);
      expect(pattern.test('Team.droplet-1-2')).toBe(false);
    });
  });

  describe('library: run and watch with tokenProfile', () => {
    it('run starts the action with the profile’s token and budget, and watches it on the profile’s queue', async () => {
      stack.simulator.ensureResource('image', 5201);
      const aw = ActionWatcher.fromRuntime(profiled);
      const before = posts();
      const result = await aw.run(
        { kind: 'image', resourceId: 5201, type: 'transfer', region: 'ams3' },
        { tokenProfile: 'TEAM_B' },
      );
      expect(posts() - before).toBe(1);
      expect(recorder.tokensOf('POST', /^\/v2\/images\/5201\/actions$/)).toEqual([TEAM_B_TOKEN]);
      expect(result).toMatchObject({
        started: true,
        watch: { id: `team_b.image-5201-${result.action.id}`, tokenProfile: 'team_b' },
      });
      expect(await profiled.watches.queueFor('team_b').getJob(result.watch.id)).toBeDefined();
      const outcome = await aw.waitFor(result.watch, { timeout: '15s' });
      expect(outcome).toMatchObject({ outcome: 'completed', watch: { tokenProfile: 'team_b' } });
      expect(recorder.tokensFor(/^\/v2\/images\/5201\//).every((token) => token === TEAM_B_TOKEN)).toBe(true);
    });

    it('a run key names one run per token profile', async () => {
      stack.simulator.ensureResource('image', 5202);
      const aw = ActionWatcher.fromRuntime(profiled);
      const request = { kind: 'image', resourceId: 5202, type: 'transfer', region: 'sfo3' } as const;
      const withProfile = await aw.run(request, { key: 'release-5202', tokenProfile: 'team_b' });
      const withDefault = await ActionWatcher.fromRuntime(stack.runtime).run(request, {
        key: 'release-5202',
      });
      const retried = await aw.run(request, { key: 'release-5202', tokenProfile: 'team_b' });
      expect([withProfile.started, withDefault.started, retried.started]).toEqual([true, true, false]);
      expect(withDefault.action.id).not.toBe(withProfile.action.id);
      expect(retried.action.id).toBe(withProfile.action.id);
      expect(retried.watch.id).toBe(`team_b.image-5202-${withProfile.action.id}`);
      expect(withDefault.watch.id).toBe(`image-5202-${withDefault.action.id}`);
      // Only the profile's POST went through the recorder; the default Runtime reaches the simulator directly.
      expect(recorder.tokensOf('POST', /^\/v2\/images\/5202\/actions$/)).toEqual([TEAM_B_TOKEN]);
      const keys = await stack.runtime.redis.keys(`${stack.prefix}:run-key:*release-5202`);
      expect(keys.sort()).toEqual(
        [`${stack.prefix}:run-key:release-5202`, `${stack.prefix}:run-key:team_b:release-5202`].sort(),
      );
      for (const key of keys) expect(await stack.runtime.redis.get(key)).not.toContain(TEAM_B_TOKEN);
    });

    it('run without the profile’s token fails naming the variable, before anything is sent or claimed', async () => {
      stack.simulator.ensureResource('image', 5203);
      const aw = ActionWatcher.fromRuntime(stack.runtime);
      const before = posts();
      const profileBefore = await profileJobs();
      const running = aw.run(
        { kind: 'image', resourceId: 5203, type: 'convert' },
        { key: 'missing-5203', tokenProfile: 'team_b' },
      );
      await expect(running).rejects.toBeInstanceOf(ConfigError);
      await expect(running).rejects.toThrow(
        'DIGITALOCEAN_TOKEN_TEAM_B is not set: run needs it to start actions with token profile team_b',
      );
      expect(posts()).toBe(before);
      expect(await stack.runtime.redis.keys(`${stack.prefix}:run-key:*missing-5203`)).toEqual([]);
      expect(await profileJobs()).toBe(profileBefore);

      await expect(
        aw.run({ kind: 'image', resourceId: 5203, type: 'convert' }, { tokenProfile: 'team-b' }),
      ).rejects.toBeInstanceOf(InputError);
      expect(posts()).toBe(before);
    });

    it('watch and watchInProgress take tokenProfile (the listing uses the profile’s token)', async () => {
      const aw = ActionWatcher.fromRuntime(profiled);
      const running = stack.simulator.createAction({ kind: 'droplet', resourceId: 5204, durationMs: 60_000 });
      stack.simulator.createAction({ kind: 'droplet', resourceId: 5204, durationMs: 1 });
      const watches = await aw.watchInProgress('droplet', 5204, { tokenProfile: 'team_b', timeout: '1m' });
      expect(watches.map((watch) => watch.id)).toEqual([`team_b.droplet-5204-${running.id}`]);
      expect(recorder.tokensOf('GET', /^\/v2\/droplets\/5204\/actions(\?|$)/)).toEqual([TEAM_B_TOKEN]);

      const watch = await ActionWatcher.fromRuntime(stack.runtime).watch(
        { kind: 'droplet', resourceId: 5204, actionId: running.id },
        { tokenProfile: 'Team_B' },
      );
      expect(watch.id).toBe(`team_b.droplet-5204-${running.id}`);
      expect((await profiled.watches.cancel(watch.id))?.outcome).toBe('cancelled');
    });
  });

  describe('CLI: run --token-profile (spawns dist/src/cli/main.js)', () => {
    it('starts with the profile’s token alone (no DIGITALOCEAN_TOKEN) and --wait waits on the profile watch', async () => {
      stack.simulator.ensureResource('image', 5301);
      const result = await runCli(
        ['run', 'image', '5301', 'transfer', '--region', 'ams3', '--token-profile', 'team_b', '--wait'],
        profileEnv,
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const action = JSON.parse(result.stdout) as Action;
      expect(action).toMatchObject({ type: 'transfer', status: 'completed', resource_id: 5301 });
      expect(recorder.tokensOf('POST', /^\/v2\/images\/5301\/actions$/)).toEqual([TEAM_B_TOKEN]);
      const outcome = await stack.runtime.watches.outcomes.get(`team_b.image-5301-${action.id}`);
      expect(outcome).toMatchObject({ outcome: 'completed', watch: { tokenProfile: 'team_b' } });
    });

    it('prints the profile watch, and keeps --key apart from the default token’s', async () => {
      stack.simulator.ensureResource('image', 5302);
      const args = ['run', 'image', '5302', 'transfer', '--region', 'lon1', '--key', 'cli-5302'];
      const env = { ...profileEnv, DIGITALOCEAN_TOKEN: SIM_TOKEN };
      const profile = await runCli([...args, '--token-profile', 'team_b'], env);
      expect(profile.code).toBe(0);
      const started = JSON.parse(profile.stdout) as RunOutput;
      expect(started).toMatchObject({
        started: true,
        watch: { id: `team_b.image-5302-${started.action.id}`, state: 'waiting', tokenProfile: 'team_b' },
      });
      const plain = JSON.parse((await runCli(args, env)).stdout) as RunOutput;
      expect(plain.started).toBe(true);
      expect(plain.action.id).not.toBe(started.action.id);
      expect(plain.watch.id).toBe(`image-5302-${plain.action.id}`);
      expect(recorder.tokensOf('POST', /^\/v2\/images\/5302\/actions$/)).toEqual([TEAM_B_TOKEN, SIM_TOKEN]);
    });

    it('without the profile’s token: one line naming the variable, exit 1, nothing sent', async () => {
      stack.simulator.ensureResource('image', 5303);
      const before = posts();
      const result = await runCli(
        [
          'run',
          'image',
          '5303',
          'transfer',
          '--region',
          'ams3',
          '--key',
          'cli-5303',
          '--token-profile',
          'ops',
        ],
        { ...profileEnv, DIGITALOCEAN_TOKEN: SIM_TOKEN },
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(
        /DIGITALOCEAN_TOKEN_OPS is not set: run needs it to start actions with token profile ops/,
      );
      expect(posts()).toBe(before);
      expect(recorder.tokensFor(/^\/v2\/images\/5303\//)).toEqual([]);
      expect(await stack.runtime.redis.keys(`${stack.prefix}:run-key:*cli-5303`)).toEqual([]);

      const bad = await runCli(['run', 'image', '5303', 'convert', '--token-profile', 'team-b'], profileEnv);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toMatch(/token profile must be a letter/);
      expect(posts()).toBe(before);
    });
  });
});
