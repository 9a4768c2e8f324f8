import { afterEach, describe, expect, it } from 'vitest';
import { actionListResponseSchema, actionResponseSchema } from '../src/digitalocean/models.js';
import { Simulator, type SimulatorOptions } from '../src/simulator/simulator.js';
import { call, fakeClock, type Json, simulatorTracker, T0, TOKEN } from './support/simulator-harness.js';

const { start, closeAll } = simulatorTracker();

afterEach(closeAll);

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

describe('action lifecycle', () => {
  it('is in-progress until its duration has elapsed, then completed with completed_at', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now });
    const created = sim.createAction({ kind: 'droplet', resourceId: 11, durationMs: 30_000 });
    expect(created).toMatchObject({ status: 'in-progress', completed_at: null, started_at: iso(T0) });

    clock.advance(29_999);
    expect((await call(sim, `/v2/actions/${created.id}`)).body.action.status).toBe('in-progress');

    clock.advance(1);
    const after = await call(sim, `/v2/actions/${created.id}`);
    expect(after.status).toBe(200);
    expect(actionResponseSchema.parse(after.body).action).toMatchObject({
      id: created.id,
      status: 'completed',
      type: 'reboot',
      started_at: iso(T0),
      completed_at: iso(T0 + 30_000),
      resource_id: 11,
      resource_type: 'droplet',
      region_slug: 'nyc3',
    });
    const scoped = await call(sim, `/v2/droplets/11/actions/${created.id}`);
    expect(scoped.body.action.completed_at).toBe(iso(T0 + 30_000));
  });

  it('ends errored when created to fail, and finishAction ends an action early', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now });
    const failing = sim.createAction({ kind: 'image', resourceId: 7, durationMs: 1000, result: 'errored' });
    const long = sim.createAction({ kind: 'image', resourceId: 8, durationMs: 3_600_000 });
    clock.advance(1000);
    const errored = await call(sim, `/v2/images/7/actions/${failing.id}`);
    expect(errored.body.action).toMatchObject({ status: 'errored', completed_at: iso(T0 + 1000) });

    clock.advance(5000);
    sim.finishAction(long.id, 'completed');
    expect(sim.getAction(long.id)).toMatchObject({ status: 'completed', completed_at: iso(T0 + 6000) });
    sim.finishAction(long.id, 'errored');
    expect((await call(sim, `/v2/actions/${long.id}`)).body.action.status).toBe('errored');
  });

  it('shows completed_at null on the droplet-scoped GET when completedAtNullOnDropletGet is set', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, completedAtNullOnDropletGet: true });
    const action = sim.createAction({ kind: 'droplet', resourceId: 3, durationMs: 10_000 });
    clock.advance(10_000);
    const scoped = await call(sim, `/v2/droplets/3/actions/${action.id}`);
    expect(scoped.body.action).toMatchObject({ status: 'completed', completed_at: null });
    const global = await call(sim, `/v2/actions/${action.id}`);
    expect(global.body.action.completed_at).toBe(iso(T0 + 10_000));
    const list = await call(sim, '/v2/droplets/3/actions');
    expect(list.body.actions[0].completed_at).toBe(iso(T0 + 10_000));
  });

  it('reports an undocumented initial status for its first forMs', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now });
    const action = sim.createAction({
      kind: 'droplet',
      resourceId: 4,
      durationMs: 10_000,
      initialStatus: { status: 'new', forMs: 2000 },
    });
    expect(action.status).toBe('new');
    clock.advance(1999);
    expect((await call(sim, `/v2/actions/${action.id}`)).body.action.status).toBe('new');
    clock.advance(1);
    expect((await call(sim, `/v2/actions/${action.id}`)).body.action.status).toBe('in-progress');
    clock.advance(8000);
    expect((await call(sim, `/v2/actions/${action.id}`)).body.action.status).toBe('completed');
  });

  it('numbers actions upwards across kinds from firstActionId and honours startedAt', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, firstActionId: 500 });
    const a = sim.createAction({ kind: 'droplet', resourceId: 1 });
    const b = sim.createAction({ kind: 'image', resourceId: 1 });
    const old = sim.createAction({ kind: 'image', resourceId: 2, startedAt: T0 - 60_000, durationMs: 1000 });
    expect([a.id, b.id, old.id]).toEqual([500, 501, 502]);
    expect(old).toMatchObject({
      status: 'completed',
      started_at: iso(T0 - 60_000),
      completed_at: iso(T0 - 59_000),
    });
    expect(() => sim.createAction({ kind: 'droplet', resourceId: 0 })).toThrow(/resourceId/);
    expect(() => sim.createAction({ kind: 'droplet', resourceId: 1, region: 'mars1' })).toThrow(/region/);
  });

  it('embeds a full region object matching region_slug', async () => {
    const sim = await start();
    const response = await call(sim, '/v2/images/55/actions', {
      method: 'POST',
      body: { type: 'transfer', region: 'fra1' },
    });
    expect(response.status).toBe(201);
    const { action } = response.body;
    expect(action).toMatchObject({
      type: 'transfer',
      resource_type: 'image',
      resource_id: 55,
      region_slug: 'fra1',
    });
    expect(action.region).toMatchObject({ slug: 'fra1', name: 'Frankfurt 1', available: true });
    expect(action.region.sizes.length).toBeGreaterThan(5);
    expect(action.region.features).toContain('image_transfer');
  });
});

describe('auth and errors', () => {
  it('answers 401 without a token, with an unknown one, and after revocation', async () => {
    const sim = await start({ tokens: ['a', 'b'] });
    sim.createAction({ kind: 'droplet', resourceId: 1 });
    const body = { id: 'unauthorized', message: 'Unable to authenticate you.' };
    for (const token of [null, 'nope', '']) {
      const response = await call(sim, '/v2/actions', { token });
      expect(response.status).toBe(401);
      expect(response.body).toEqual(body);
      expect(response.headers.get('ratelimit-limit')).toBe('5000');
    }
    expect((await call(sim, '/v2/actions', { token: 'a' })).status).toBe(200);
    sim.setTokens(['b', 'c']);
    expect((await call(sim, '/v2/actions', { token: 'a' })).status).toBe(401);
    expect((await call(sim, '/v2/actions', { token: 'c' })).status).toBe(200);
    sim.revokeToken('c');
    sim.addToken('d');
    expect((await call(sim, '/v2/actions', { token: 'c' })).status).toBe(401);
    expect((await call(sim, '/v2/actions', { token: 'd' })).status).toBe(200);
  });

  it('answers 404 for unknown actions and resources, and for an action of another resource', async () => {
    const sim = await start();
    const d1 = sim.createAction({ kind: 'droplet', resourceId: 1 });
    sim.createAction({ kind: 'droplet', resourceId: 2 });
    const img = sim.createAction({ kind: 'image', resourceId: 1 });
    const notFound = { id: 'not_found', message: 'The resource you requested could not be found.' };
    const paths = [
      '/v2/actions/99999',
      '/v2/droplets/3/actions',
      '/v2/images/3/actions',
      `/v2/droplets/2/actions/${d1.id}`,
      `/v2/images/1/actions/${d1.id}`,
      `/v2/droplets/1/actions/${img.id}`,
      '/v2/actions/abc',
      '/v2/actions/0',
      '/v2/actions/-4',
      '/v2/droplets/1.5/actions',
      '/v2/images/999',
      '/v2/droplets/3/snapshots',
      '/v2/nothing-here',
    ];
    for (const path of paths) {
      const response = await call(sim, path);
      expect({ path, status: response.status, body: response.body }).toEqual({
        path,
        status: 404,
        body: notFound,
      });
    }
    expect((await call(sim, `/v2/droplets/1/actions/${d1.id}`)).status).toBe(200);
    expect((await call(sim, `/v2/images/1/actions/${img.id}`)).status).toBe(200);
  });

  it('answers 400 bad_request for a page or per_page that is not a positive integer', async () => {
    const sim = await start();
    for (const query of ['page=0', 'page=abc', 'per_page=0', 'per_page=-1', 'page=1.5']) {
      const response = await call(sim, `/v2/actions?${query}`);
      expect(response.status).toBe(400);
      expect(response.body.id).toBe('bad_request');
    }
  });

  it('refuses a droplet action while one is pending (422) and accepts it once that one ends', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, defaultDurationMs: 5000 });
    const first = await call(sim, '/v2/droplets/42/actions', { method: 'POST', body: { type: 'power_off' } });
    expect(first.status).toBe(201);
    expect(first.body.action).toMatchObject({ status: 'in-progress', type: 'power_off', resource_id: 42 });

    const second = await call(sim, '/v2/droplets/42/actions', { method: 'POST', body: { type: 'power_on' } });
    expect(second.status).toBe(422);
    expect(second.body).toEqual({
      id: 'unprocessable_entity',
      message: 'Droplet already has a pending event.',
    });
    // Another droplet is not affected.
    expect(
      (await call(sim, '/v2/droplets/43/actions', { method: 'POST', body: { type: 'reboot' } })).status,
    ).toBe(201);

    clock.advance(5000);
    expect(
      (await call(sim, '/v2/droplets/42/actions', { method: 'POST', body: { type: 'power_on' } })).status,
    ).toBe(201);
  });

  it('validates action bodies against the spec types and their parameters', async () => {
    const sim = await start();
    const bad: Array<[string, unknown]> = [
      ['/v2/droplets/1/actions', { type: 'explode' }],
      ['/v2/droplets/2/actions', { type: 'resize' }],
      ['/v2/droplets/3/actions', { type: 'rename' }],
      ['/v2/droplets/4/actions', { type: 'change_kernel', kernel: 'x' }],
      ['/v2/droplets/5/actions', { type: 'change_backup_policy' }],
      ['/v2/images/1/actions', { type: 'transfer' }],
      ['/v2/images/1/actions', { type: 'transfer', region: 'mars1' }],
      ['/v2/images/1/actions', { type: 'snapshot' }],
    ];
    for (const [path, body] of bad) {
      const response = await call(sim, path, { method: 'POST', body });
      expect({ path, body, status: response.status, id: response.body.id }).toEqual({
        path,
        body,
        status: 422,
        id: 'unprocessable_entity',
      });
    }
    const good: Array<[string, unknown]> = [
      ['/v2/droplets/10/actions', { type: 'resize', size: 's-2vcpu-2gb', disk: true }],
      ['/v2/droplets/11/actions', { type: 'rebuild', image: 'ubuntu-24-04-x64' }],
      ['/v2/droplets/12/actions', { type: 'rename', name: 'web-2' }],
      ['/v2/droplets/13/actions', { type: 'enable_backups', backup_policy: { plan: 'daily', hour: 20 } }],
      ['/v2/droplets/14/actions', { type: 'restore', image: 12389723 }],
      ['/v2/images/10/actions', { type: 'convert' }],
    ];
    for (const [path, body] of good) {
      expect({ path, status: (await call(sim, path, { method: 'POST', body })).status }).toEqual({
        path,
        status: 201,
      });
    }
    const garbled = await fetch(`${sim.url}/v2/droplets/20/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"type": ',
    });
    expect(garbled.status).toBe(400);
    expect(await garbled.json()).toEqual({ id: 'bad_request', message: 'error parsing request body' });
  });

  it('makes a snapshot image when a snapshot action completes', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, durationsByType: { snapshot: 60_000 } });
    const posted = await call(sim, '/v2/droplets/77/actions', {
      method: 'POST',
      body: { type: 'snapshot', name: 'before-upgrade' },
    });
    expect(posted.status).toBe(201);
    const action = posted.body.action;
    expect((await call(sim, '/v2/droplets/77/snapshots')).body).toEqual({
      snapshots: [],
      links: {},
      meta: { total: 0 },
    });

    clock.advance(60_000);
    const snapshots = await call(sim, '/v2/droplets/77/snapshots');
    expect(snapshots.status).toBe(200);
    expect(snapshots.body.meta.total).toBe(1);
    const [snapshot] = snapshots.body.snapshots;
    expect(snapshot).toMatchObject({
      name: 'before-upgrade',
      type: 'snapshot',
      created_at: action.started_at,
      regions: ['nyc3'],
    });
    expect(snapshot.id).not.toBe(77);

    const image = await call(sim, `/v2/images/${snapshot.id}`);
    expect(image.status).toBe(200);
    expect(image.body.image).toMatchObject({
      id: snapshot.id,
      name: 'before-upgrade',
      type: 'snapshot',
      created_at: action.started_at,
      status: 'available',
    });
    // The new image is a resource of its own: its action list exists and is empty.
    expect((await call(sim, `/v2/images/${snapshot.id}/actions`)).body.meta.total).toBe(0);

    // A snapshot that errors leaves no image behind.
    const failed = sim.createAction({ kind: 'droplet', resourceId: 78, type: 'snapshot', result: 'errored' });
    sim.finishAction(failed.id, 'errored');
    expect((await call(sim, '/v2/droplets/78/snapshots')).body.meta.total).toBe(0);
  });

  it('answers 404 for every action of a deleted resource and drops them from lists', async () => {
    const sim = await start();
    const gone = sim.createAction({ kind: 'droplet', resourceId: 5 });
    const kept = sim.createAction({ kind: 'droplet', resourceId: 6 });
    sim.deleteResource('droplet', 5);
    expect((await call(sim, `/v2/droplets/5/actions/${gone.id}`)).status).toBe(404);
    expect((await call(sim, `/v2/actions/${gone.id}`)).status).toBe(404);
    expect((await call(sim, '/v2/droplets/5/actions')).status).toBe(404);
    expect(
      (await call(sim, '/v2/droplets/5/actions', { method: 'POST', body: { type: 'reboot' } })).status,
    ).toBe(404);
    const list = await call(sim, '/v2/actions');
    expect(list.body.actions.map((a: Json) => a.id)).toEqual([kept.id]);
    expect(sim.getAction(gone.id)).toBeUndefined();
    expect(() => sim.createAction({ kind: 'droplet', resourceId: 5 })).toThrow(/deleted/);
  });
});

describe('pagination', () => {
  async function seeded(options: SimulatorOptions = {}) {
    const sim = await start(options);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(sim.createAction({ kind: 'droplet', resourceId: 9 }).id);
    sim.createAction({ kind: 'droplet', resourceId: 10 });
    sim.createAction({ kind: 'image', resourceId: 9 });
    return { sim, ids };
  }

  it('pages with per_page and page, absolute links for the pages that apply, and meta.total', async () => {
    const { sim, ids } = await seeded();
    const base = `${sim.url}/v2/droplets/9/actions`;

    const first = await call(sim, '/v2/droplets/9/actions?per_page=2');
    expect(actionListResponseSchema.parse(first.body).actions.map((a) => a.id)).toEqual(ids.slice(0, 2));
    expect(first.body.meta).toEqual({ total: 5 });
    expect(first.body.links).toEqual({
      pages: { next: `${base}?page=2&per_page=2`, last: `${base}?page=3&per_page=2` },
    });

    const middle = await call(sim, '/v2/droplets/9/actions?page=2&per_page=2');
    expect(middle.body.actions.map((a: Json) => a.id)).toEqual(ids.slice(2, 4));
    expect(middle.body.links.pages).toEqual({
      first: `${base}?page=1&per_page=2`,
      prev: `${base}?page=1&per_page=2`,
      next: `${base}?page=3&per_page=2`,
      last: `${base}?page=3&per_page=2`,
    });

    const last = await call(sim, '/v2/droplets/9/actions?page=3&per_page=2');
    expect(last.body.actions.map((a: Json) => a.id)).toEqual(ids.slice(4));
    expect(last.body.links.pages).toEqual({
      first: `${base}?page=1&per_page=2`,
      prev: `${base}?page=2&per_page=2`,
    });

    const beyond = await call(sim, '/v2/droplets/9/actions?page=9&per_page=2');
    expect(beyond.body.actions).toEqual([]);
    expect(beyond.body.meta.total).toBe(5);

    const all = await call(sim, '/v2/droplets/9/actions');
    expect(all.body.actions.map((a: Json) => a.id)).toEqual(ids);
    expect(all.body.links).toEqual({});
  });

  it('keeps scoped lists to their resource and the account list to everything', async () => {
    const { sim } = await seeded();
    const images = await call(sim, '/v2/images/9/actions');
    expect(images.body.actions.map((a: Json) => [a.resource_type, a.resource_id])).toEqual([['image', 9]]);
    expect((await call(sim, '/v2/droplets/10/actions')).body.meta.total).toBe(1);
    expect((await call(sim, '/v2/actions')).body.meta.total).toBe(7);
  });

  it('serves newest-first when asked', async () => {
    const { sim, ids } = await seeded({ listOrder: 'newest-first' });
    const first = await call(sim, '/v2/droplets/9/actions?per_page=2');
    expect(first.body.actions.map((a: Json) => a.id)).toEqual([ids[4], ids[3]]);
    const last = await call(sim, '/v2/droplets/9/actions?per_page=2&page=3');
    expect(last.body.actions.map((a: Json) => a.id)).toEqual([ids[0]]);
    const global = await call(sim, '/v2/actions?per_page=1');
    expect(global.body.actions[0].resource_type).toBe('image');
  });

  it('defaults per_page to 20 and caps it at 200', async () => {
    const sim = await start();
    for (let i = 0; i < 230; i++) sim.createAction({ kind: 'droplet', resourceId: 1000 + i });
    const byDefault = await call(sim, '/v2/actions');
    expect(byDefault.body.actions).toHaveLength(20);
    expect(byDefault.body.links.pages.last).toBe(`${sim.url}/v2/actions?page=12`);
    const capped = await call(sim, '/v2/actions?per_page=500');
    expect(capped.body.actions).toHaveLength(200);
    expect(capped.body.meta.total).toBe(230);
  });

  it('keeps adding other actions in the background so totals grow, and stops on close', async () => {
    const sim = await Simulator.start({ background: { actionsPerSecond: 100, kinds: ['droplet'] } });
    try {
      const mine = sim.createAction({ kind: 'droplet', resourceId: 1 });
      const before = (await call(sim, '/v2/actions')).body.meta.total;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await call(sim, '/v2/actions?per_page=200');
      expect(after.body.meta.total).toBeGreaterThan(before + 5);
      const others = after.body.actions.filter((a: Json) => a.id !== mine.id);
      expect(others.every((a: Json) => a.resource_type === 'droplet' && a.resource_id !== 1)).toBe(true);
      expect((await call(sim, '/v2/droplets/1/actions')).body.meta.total).toBe(1);
    } finally {
      await sim.close();
    }
    const count = sim.actionCount;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sim.actionCount).toBe(count);
  });
});

describe('stats', () => {
  it('counts requests by route, status and token, and resets', async () => {
    const sim = await start({ tokens: ['a', 'b'], rateLimit: { perMinute: 2, perHour: 100 } });
    const action = sim.createAction({ kind: 'droplet', resourceId: 1 });
    await call(sim, `/v2/actions/${action.id}`, { token: 'a' });
    await call(sim, `/v2/droplets/1/actions/${action.id}`, { token: 'a' });
    await call(sim, '/v2/actions', { token: 'a' }); // 429: a's minute is spent
    await call(sim, '/v2/actions/1', { token: 'b' }); // 404
    await call(sim, '/v2/actions', { token: 'zzz' }); // 401
    await call(sim, '/_sim/stats'); // control API: not counted
    expect(sim.stats()).toEqual({
      totalRequests: 5,
      requests: 5,
      byRoute: {
        'GET /v2/actions/:action_id': 2,
        'GET /v2/droplets/:droplet_id/actions/:action_id': 1,
        'GET /v2/actions': 2,
      },
      byStatus: { '200': 2, '429': 1, '404': 1, '401': 1 },
      rateLimited: 1,
      byToken: { a: 3, b: 1 },
      faultsApplied: 0,
    });
    sim.resetStats();
    expect(sim.stats()).toMatchObject({
      totalRequests: 0,
      byRoute: {},
      byStatus: {},
      byToken: {},
      rateLimited: 0,
    });
  });
});

describe('control API (/_sim/)', () => {
  async function control(sim: Simulator, method: string, path: string, body?: unknown) {
    const response = await fetch(`${sim.url}${path}`, {
      method,
      // No Content-Type on purpose: curl -d users do not always send one.
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as Json) };
  }

  it('creates and finishes actions, arms faults, reports stats and swaps tokens without auth', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now });
    const created = await control(sim, 'POST', '/_sim/actions', {
      kind: 'image',
      resourceId: 31,
      type: 'convert',
      durationMs: 60_000,
    });
    expect(created.status).toBe(201);
    expect(created.body.action).toMatchObject({ type: 'convert', status: 'in-progress', resource_id: 31 });
    const id = created.body.action.id;
    expect((await control(sim, 'GET', `/_sim/actions/${id}`)).body.action.id).toBe(id);

    const finished = await control(sim, 'POST', `/_sim/actions/${id}/finish`, { result: 'errored' });
    expect(finished.body.action).toMatchObject({ status: 'errored', completed_at: iso(T0) });
    expect((await call(sim, `/v2/images/31/actions/${id}`)).body.action.status).toBe('errored');

    expect((await control(sim, 'POST', '/_sim/actions', { kind: 'volume', resourceId: 1 })).status).toBe(400);
    expect((await control(sim, 'POST', '/_sim/actions', { kind: 'droplet', resourceId: -1 })).status).toBe(
      400,
    );
    expect((await control(sim, 'POST', '/_sim/actions/999/finish')).status).toBe(404);

    expect(
      (await control(sim, 'POST', '/_sim/faults', { kind: 'status', status: 503, path: '^/v2/images' }))
        .status,
    ).toBe(201);
    expect((await call(sim, '/v2/actions')).status).toBe(200);
    expect((await call(sim, '/v2/images/31/actions')).status).toBe(503);
    await control(sim, 'POST', '/_sim/faults', { kind: 'drop', times: 5 });
    expect((await control(sim, 'DELETE', '/_sim/faults')).status).toBe(204);
    expect((await call(sim, '/v2/images/31/actions')).status).toBe(200);
    expect((await control(sim, 'POST', '/_sim/faults', { kind: 'teleport' })).status).toBe(400);

    const stats = await control(sim, 'GET', '/_sim/stats');
    expect(stats.body).toMatchObject({
      totalRequests: 4,
      byStatus: { '200': 3, '503': 1 },
      faultsApplied: 1,
    });
    expect((await control(sim, 'DELETE', '/_sim/stats')).status).toBe(204);
    expect(sim.stats().totalRequests).toBe(0);

    expect((await control(sim, 'PUT', '/_sim/tokens', { tokens: ['fresh'] })).body).toEqual({
      tokens: ['fresh'],
    });
    expect((await call(sim, '/v2/actions')).status).toBe(401);
    expect((await call(sim, '/v2/actions', { token: 'fresh' })).status).toBe(200);

    expect((await control(sim, 'DELETE', '/_sim/resources/image/31')).status).toBe(204);
    expect((await call(sim, `/v2/images/31/actions/${id}`, { token: 'fresh' })).status).toBe(404);
  });
});
