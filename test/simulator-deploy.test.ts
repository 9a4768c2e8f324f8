import { afterEach, describe, expect, it } from 'vitest';
import { call, fakeClock, type Json, simulatorTracker, T0 } from './support/simulator-harness.js';

/**
 * The resources of a whole deploy on the simulator (issue 15): droplets created and deleted,
 * volumes, reserved and floating IPs, NFS shares, and the actions that change them, every one
 * of which is in /v2/actions with its resource_type.
 */

const { start, closeAll } = simulatorTracker();

afterEach(closeAll);

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const DROPLET = { size: 's-2vcpu-4gb', image: 'ubuntu-24-04-x64', region: 'fra1' };

async function post(sim: Awaited<ReturnType<typeof start>>, path: string, body: unknown) {
  return call(sim, path, { method: 'POST', body });
}

describe('droplets', () => {
  it('are new while their create action runs and active, with addresses, once it completes', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, durationsByType: { create: 30_000 } });
    const created = await post(sim, '/v2/droplets', { name: 'web-1', ...DROPLET, tags: ['web'] });
    expect(created.status).toBe(202);
    const { droplet, links } = created.body;
    expect(droplet).toMatchObject({
      id: 400_000_000,
      name: 'web-1',
      status: 'new',
      memory: 4096,
      vcpus: 2,
      size_slug: 's-2vcpu-4gb',
      region: { slug: 'fra1' },
      tags: ['web'],
      networks: { v4: [], v6: [] },
      created_at: iso(T0),
    });
    expect(links.actions).toEqual([
      { id: expect.any(Number), rel: 'create', href: `${sim.url}/v2/actions/${links.actions[0].id}` },
    ]);
    const actionId = links.actions[0].id;
    expect((await call(sim, `/v2/actions/${actionId}`)).body.action).toMatchObject({
      status: 'in-progress',
      type: 'create',
      resource_id: droplet.id,
      resource_type: 'droplet',
      region_slug: 'fra1',
    });
    expect((await call(sim, `/v2/droplets/${droplet.id}/actions`)).body.actions).toHaveLength(1);

    // Busy while it is being created, as DigitalOcean is.
    const early = await post(sim, `/v2/droplets/${droplet.id}/actions`, { type: 'power_off' });
    expect(early.status).toBe(422);
    expect(early.body.message).toBe('Droplet already has a pending event.');

    clock.advance(29_999);
    expect((await call(sim, `/v2/droplets/${droplet.id}`)).body.droplet.status).toBe('new');
    clock.advance(1);
    const active = (await call(sim, `/v2/droplets/${droplet.id}`)).body.droplet;
    expect(active.status).toBe('active');
    const publicV4 = active.networks.v4.filter((network: Json) => network.type === 'public');
    expect(publicV4).toHaveLength(1);
    expect(publicV4[0].ip_address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(sim.getDroplet(droplet.id)).toEqual(active);
    expect((await post(sim, `/v2/droplets/${droplet.id}/actions`, { type: 'power_off' })).status).toBe(201);
  });

  it('creates several with `names`, each with its own create action, and refuses bad bodies', async () => {
    const sim = await start({ firstDropletId: 5000 });
    const created = await post(sim, '/v2/droplets', { names: ['a-1', 'a-2', 'a-3'], ...DROPLET });
    expect(created.status).toBe(202);
    expect(created.body.droplets.map((droplet: Json) => [droplet.id, droplet.name])).toEqual([
      [5000, 'a-1'],
      [5001, 'a-2'],
      [5002, 'a-3'],
    ]);
    const actionIds = created.body.links.actions.map((link: Json) => link.id);
    expect(new Set(actionIds).size).toBe(3);
    for (const [index, id] of actionIds.entries()) {
      expect((await call(sim, `/v2/actions/${id}`)).body.action.resource_id).toBe(5000 + index);
    }

    for (const body of [
      { ...DROPLET },
      { name: 'bad name!', ...DROPLET },
      { name: 'x', image: 'ubuntu-24-04-x64' },
      { name: 'x', ...DROPLET, region: 'atlantis' },
      { names: Array.from({ length: 11 }, (_, i) => `n-${i}`), ...DROPLET },
    ]) {
      const refused = await post(sim, '/v2/droplets', body);
      expect(refused.status, JSON.stringify(body)).toBe(422);
      expect(refused.body.id).toBe('unprocessable_entity');
    }
  });

  it('stay off when their create action errors', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now });
    const { droplet, links } = (await post(sim, '/v2/droplets', { name: 'doomed', ...DROPLET })).body;
    sim.finishAction(links.actions[0].id, 'errored');
    expect((await call(sim, `/v2/droplets/${droplet.id}`)).body.droplet).toMatchObject({
      status: 'off',
      networks: { v4: [] },
    });
  });

  it('answer 204 to DELETE and 404 once deleteDelayMs has passed, their actions with them', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, deleteDelayMs: 10_000 });
    const { droplet, links } = (await post(sim, '/v2/droplets', { name: 'gone', ...DROPLET })).body;
    const deleted = await call(sim, `/v2/droplets/${droplet.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call(sim, `/v2/droplets/${droplet.id}`, { method: 'DELETE' })).status).toBe(204);

    clock.advance(9_999);
    expect((await call(sim, `/v2/droplets/${droplet.id}`)).status).toBe(200);
    clock.advance(1);
    expect((await call(sim, `/v2/droplets/${droplet.id}`)).status).toBe(404);
    expect((await call(sim, `/v2/actions/${links.actions[0].id}`)).status).toBe(404);
    expect((await call(sim, `/v2/droplets/${droplet.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(sim.getDroplet(droplet.id)).toBeUndefined();

    const immediate = await start({ now: clock.now });
    const other = (await post(immediate, '/v2/droplets', { name: 'next', ...DROPLET })).body.droplet;
    expect((await call(immediate, `/v2/droplets/${other.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call(immediate, `/v2/droplets/${other.id}`)).status).toBe(404);
    expect((await call(immediate, '/v2/droplets/123', { method: 'DELETE' })).status).toBe(404);
  });
});

describe('volumes', () => {
  it('attach, detach (by name) and resize when their actions complete, and not when they error', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, defaultDurationMs: 5000 });
    const created = await post(sim, '/v2/volumes', {
      name: 'data',
      size_gigabytes: 10,
      region: 'fra1',
      filesystem_type: 'ext4',
    });
    expect(created.status).toBe(201);
    const volume = created.body.volume;
    expect(volume).toMatchObject({
      name: 'data',
      size_gigabytes: 10,
      droplet_ids: [],
      region: { slug: 'fra1' },
    });
    expect(volume.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const { droplet } = (await post(sim, '/v2/droplets', { name: 'db', ...DROPLET })).body;

    const attach = await post(sim, `/v2/volumes/${volume.id}/actions`, {
      type: 'attach',
      droplet_id: droplet.id,
    });
    expect(attach.status).toBe(202);
    expect(attach.body.action).toMatchObject({
      status: 'in-progress',
      type: 'attach_volume',
      resource_id: null,
      resource_type: 'volume',
      region_slug: 'fra1',
    });
    expect((await call(sim, `/v2/volumes/${volume.id}`)).body.volume.droplet_ids).toEqual([]);
    clock.advance(5000);
    expect((await call(sim, `/v2/volumes/${volume.id}`)).body.volume.droplet_ids).toEqual([droplet.id]);
    expect((await call(sim, `/v2/droplets/${droplet.id}`)).body.droplet.volume_ids).toEqual([volume.id]);
    expect((await call(sim, `/v2/actions/${attach.body.action.id}`)).body.action).toMatchObject({
      status: 'completed',
      resource_type: 'volume',
    });
    expect(
      (await call(sim, `/v2/volumes/${volume.id}/actions/${attach.body.action.id}`)).body.action.status,
    ).toBe('completed');

    const resize = await post(sim, `/v2/volumes/${volume.id}/actions`, {
      type: 'resize',
      size_gigabytes: 50,
    });
    sim.finishAction(resize.body.action.id, 'errored');
    expect(sim.getVolume(volume.id)).toMatchObject({ size_gigabytes: 10 });
    await post(sim, `/v2/volumes/${volume.id}/actions`, { type: 'resize', size_gigabytes: 50 });
    clock.advance(5000);
    expect(sim.getVolume(volume.id)).toMatchObject({ size_gigabytes: 50 });

    const detach = await post(sim, '/v2/volumes/actions', {
      type: 'detach',
      volume_name: 'data',
      region: 'fra1',
      droplet_id: droplet.id,
    });
    expect(detach.status).toBe(202);
    expect(detach.body.action.type).toBe('detach_volume');
    clock.advance(5000);
    expect(sim.getVolume(volume.id)).toMatchObject({ droplet_ids: [] });
    expect((await call(sim, `/v2/droplets/${droplet.id}`)).body.droplet.volume_ids).toEqual([]);
    expect((await call(sim, `/v2/volumes/${volume.id}/actions`)).body.meta.total).toBe(4);

    expect(
      (
        await post(sim, '/v2/volumes/actions', {
          type: 'detach',
          volume_name: 'data',
          region: 'sgp1',
          droplet_id: 1,
        })
      ).status,
    ).toBe(404);
    expect((await post(sim, '/v2/volumes/actions', { type: 'resize', volume_name: 'data' })).status).toBe(
      422,
    );
    expect((await post(sim, `/v2/volumes/${volume.id}/actions`, { type: 'attach' })).status).toBe(422);
    expect((await post(sim, '/v2/volumes', { name: 'x', size_gigabytes: 0, region: 'fra1' })).status).toBe(
      422,
    );
    expect((await call(sim, '/v2/volumes/not-a-uuid')).status).toBe(404);
    expect((await call(sim, `/v2/volumes/${volume.id}/actions/${attach.body.action.id + 1000}`)).status).toBe(
      404,
    );
  });
});

describe('reserved and floating IPs', () => {
  it('assign to a droplet when the assign_ip action completes, locked until then', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, defaultDurationMs: 3000 });
    const { droplet } = (await post(sim, '/v2/droplets', { name: 'lb', ...DROPLET })).body;
    clock.advance(3000);

    const created = await post(sim, '/v2/reserved_ips', { droplet_id: droplet.id });
    expect(created.status).toBe(202);
    const { reserved_ip: address, links } = created.body;
    expect(address).toMatchObject({ droplet: null, locked: true, region: { slug: 'fra1' } });
    expect(links.droplets).toEqual([
      { id: droplet.id, rel: 'droplet', href: `${sim.url}/v2/droplets/${droplet.id}` },
    ]);
    expect(links.actions[0].rel).toBe('assign_ip');
    const [a, b, c, d] = address.ip.split('.').map(Number);
    const action = (await call(sim, `/v2/actions/${links.actions[0].id}`)).body.action;
    expect(action).toMatchObject({
      type: 'assign_ip',
      resource_type: 'reserved_ip',
      resource_id: ((a * 256 + b) * 256 + c) * 256 + d,
    });

    clock.advance(3000);
    const assigned = (await call(sim, `/v2/reserved_ips/${address.ip}`)).body.reserved_ip;
    expect(assigned).toMatchObject({ locked: false, droplet: { id: droplet.id, status: 'active' } });

    // The same address answers under its old name, and an action started there is a floating_ip one.
    const unassign = await post(sim, `/v2/floating_ips/${address.ip}/actions`, { type: 'unassign' });
    expect(unassign.status).toBe(201);
    expect(unassign.body.action).toMatchObject({ type: 'unassign_ip', resource_type: 'floating_ip' });
    clock.advance(3000);
    expect((await call(sim, `/v2/floating_ips/${address.ip}`)).body.floating_ip.droplet).toBeNull();
    expect((await call(sim, `/v2/reserved_ips/${address.ip}/actions`)).body.meta.total).toBe(2);

    const regional = await post(sim, '/v2/floating_ips', { region: 'nyc3' });
    expect(regional.body).toMatchObject({ floating_ip: { droplet: null, locked: false }, links: {} });
    expect(regional.body.floating_ip.ip).not.toBe(address.ip);
    expect((await post(sim, '/v2/reserved_ips', {})).status).toBe(422);
    expect((await post(sim, `/v2/reserved_ips/${address.ip}/actions`, { type: 'assign' })).status).toBe(422);
    expect((await call(sim, '/v2/reserved_ips/198.51.100.1')).status).toBe(404);
  });

  it('reserve IPv6 addresses whose actions carry a whole-number resource_id', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, defaultDurationMs: 1000 });
    const created = await post(sim, '/v2/reserved_ipv6', { region_slug: 'ams3' });
    expect(created.status).toBe(201);
    const { ip } = created.body.reserved_ipv6;
    expect(created.body.reserved_ipv6).toEqual({ ip, region_slug: 'ams3', reserved_at: iso(T0) });
    const { droplet } = (await post(sim, '/v2/droplets', { name: 'v6', ...DROPLET })).body;
    const assign = await post(sim, `/v2/reserved_ipv6/${ip}/actions`, {
      type: 'assign',
      droplet_id: droplet.id,
    });
    expect(assign.status).toBe(201);
    expect(assign.body.action).toMatchObject({ type: 'assign_ip', resource_type: 'reserved_ipv6' });
    expect(Number.isInteger(assign.body.action.resource_id)).toBe(true);
    clock.advance(1000);
    expect((await call(sim, `/v2/reserved_ipv6/${ip}`)).body.reserved_ipv6.droplet.id).toBe(droplet.id);
  });
});

describe('NFS shares', () => {
  it('answer actions in the NFS shape, with an id /v2/actions knows', async () => {
    const clock = fakeClock();
    const sim = await start({ now: clock.now, defaultDurationMs: 2000 });
    const created = await post(sim, '/v2/nfs', { name: 'shared', size_gib: 50, region: 'nyc3', vpc_ids: [] });
    expect(created.status).toBe(201);
    const share = created.body.share;
    expect(share).toMatchObject({ name: 'shared', size_gib: 50, status: 'CREATING' });

    const resize = await post(sim, `/v2/nfs/${share.id}/actions`, {
      type: 'resize',
      params: { size_gib: 100 },
    });
    expect(resize.status).toBe(201);
    expect(resize.body.action).toEqual({
      id: expect.stringMatching(/^\d+$/),
      region_slug: 'nyc3',
      resource_id: share.id,
      resource_type: 'SHARE',
      started_at: iso(T0),
      status: 'IN_PROGRESS',
      type: 'RESIZE_SHARE',
    });
    clock.advance(2000);
    expect((await call(sim, `/v2/actions/${resize.body.action.id}`)).body.action).toMatchObject({
      status: 'completed',
      type: 'RESIZE_SHARE',
      resource_id: null,
      resource_type: 'nfs',
    });
    expect((await call(sim, `/v2/nfs/${share.id}`)).body.share).toMatchObject({
      status: 'ACTIVE',
      size_gib: 100,
    });
    expect((await post(sim, `/v2/nfs/${share.id}/actions`, { type: 'attach', params: {} })).status).toBe(422);
  });
});

describe('the programmatic and control APIs for the new kinds', () => {
  it('create actions on volumes, addresses and shares, check their ids, and delete them', async () => {
    const sim = await start();
    const volumeId = '506f78a4-e098-11e5-ad9f-000f53306ae1';
    const action = sim.createAction({ kind: 'volume', resourceId: volumeId, type: 'attach_volume' });
    expect(action).toMatchObject({ resource_id: null, resource_type: 'volume', type: 'attach_volume' });
    expect((await call(sim, `/v2/volumes/${volumeId}/actions/${action.id}`)).status).toBe(200);
    expect(sim.createAction({ kind: 'floating_ip', resourceId: '45.55.96.47' })).toMatchObject({
      resource_id: 758603823,
      resource_type: 'floating_ip',
      type: 'assign_ip',
    });
    expect(() => sim.createAction({ kind: 'volume', resourceId: 12 })).toThrow(/UUID/);
    expect(() => sim.createAction({ kind: 'reserved_ip', resourceId: '2001:db8::1' })).toThrow(/IPv4/);
    expect(() => sim.createAction({ kind: 'load_balancer' as never, resourceId: 1 })).toThrow(
      /kind must be one of/,
    );

    const controlled = await fetch(`${sim.url}/_sim/actions`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'reserved_ipv6', resourceId: '2001:DB8::9', durationMs: 1 }),
    });
    expect(controlled.status).toBe(201);
    expect(((await controlled.json()) as Json).action.resource_type).toBe('reserved_ipv6');
    expect((await call(sim, '/v2/reserved_ipv6/2001:db8::9')).status).toBe(200);
    expect(
      (await fetch(`${sim.url}/_sim/resources/reserved_ipv6/2001:db8::9`, { method: 'DELETE' })).status,
    ).toBe(204);
    expect((await call(sim, '/v2/reserved_ipv6/2001:db8::9')).status).toBe(404);

    const removed = await fetch(`${sim.url}/_sim/resources/volume/${volumeId}`, { method: 'DELETE' });
    expect(removed.status).toBe(204);
    expect((await call(sim, `/v2/actions/${action.id}`)).status).toBe(404);
    expect((await fetch(`${sim.url}/_sim/resources/volume/12`, { method: 'DELETE' })).status).toBe(400);
    expect((await fetch(`${sim.url}/_sim/resources/teapot/12`, { method: 'DELETE' })).status).toBe(400);
  });

  it('rate-limits, counts and faults the new routes like the others', async () => {
    const sim = await start({ rateLimit: { perMinute: 3, perHour: 100 } });
    sim.injectFault({ kind: 'status', status: 503, method: 'POST', path: '^/v2/droplets$' });
    expect((await post(sim, '/v2/droplets', { name: 'x', ...DROPLET })).status).toBe(503);
    const created = await post(sim, '/v2/droplets', { name: 'x', ...DROPLET });
    expect(created.status).toBe(202);
    expect(created.headers.get('ratelimit-remaining')).toBe('98');
    expect((await call(sim, `/v2/droplets/${created.body.droplet.id}`)).status).toBe(200);
    const limited = await post(sim, '/v2/volumes', { name: 'v', size_gigabytes: 1, region: 'nyc3' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).not.toBeNull();
    expect(sim.stats().byRoute).toMatchObject({
      'POST /v2/droplets': 2,
      'GET /v2/droplets/:droplet_id': 1,
    });
  });
});
