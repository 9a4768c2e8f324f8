import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Simulator } from '../src/simulator/simulator.js';
import { Prism } from './support/prism.js';

/**
 * The deploy routes of the simulator behind Stoplight Prism's validating proxy, on the vendored
 * DigitalOcean description: every request we send and every answer the simulator gives is
 * checked by a validator nobody on this project wrote (`sl-violations`, or a problem+json error
 * in place of the answer). test/simulator-contract.test.ts checks the same answers with Ajv.
 */

const TOKEN = 'prism-deploy-token';
const DROPLET = { size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64', region: 'nyc3' };

let sim: Simulator;
let prism: Prism;

beforeAll(async () => {
  sim = await Simulator.start({ tokens: [TOKEN], defaultDurationMs: 300 });
  prism = await Prism.proxy(sim.url);
}, 90_000);

afterAll(async () => {
  await prism?.close();
  await sim?.close();
});

interface Exchange {
  status: number;
  body: Record<string, unknown> | undefined;
  problem: string | undefined;
}

const problems: string[] = [];

async function send(method: string, path: string, expected: number, body?: unknown): Promise<Exchange> {
  const response = await fetch(`${prism.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const violations = response.headers.get('sl-violations');
  const isProblem = /problem\+json/.test(response.headers.get('content-type') ?? '');
  const where = `${method} ${path} → ${response.status}`;
  if (violations !== null || isProblem) problems.push(`${where}: ${violations ?? text}`);
  expect(response.status, `${where}: ${text.slice(0, 500)}`).toBe(expected);
  return {
    status: response.status,
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    problem: violations ?? undefined,
  };
}

/** Real time here (Prism sits between us and the simulator): wait until this action has ended. */
async function ended(actionId: number): Promise<void> {
  await expect
    .poll(() => sim.getAction(actionId)?.status, { timeout: 5_000, interval: 50 })
    .toMatch(/^(completed|errored)$/);
}

describe('through Prism’s validating proxy, the deploy routes are valid under the spec', () => {
  it('droplets, volumes, reserved and floating IPs, IPv6 and NFS, created, acted on and deleted', async () => {
    const single = await send('POST', '/v2/droplets', 202, { name: 'web-1', ...DROPLET });
    const droplet = single.body?.droplet as { id: number };
    await send('POST', '/v2/droplets', 202, { names: ['web-2', 'web-3'], ...DROPLET });
    await send('GET', `/v2/droplets/${droplet.id}`, 200);

    const volume = (
      await send('POST', '/v2/volumes', 201, { name: 'data', size_gigabytes: 10, region: 'nyc3' })
    ).body?.volume as { id: string };
    const attach = (
      await send('POST', `/v2/volumes/${volume.id}/actions`, 202, { type: 'attach', droplet_id: droplet.id })
    ).body?.action as { id: number };
    const reserved = (await send('POST', '/v2/reserved_ips', 202, { region: 'nyc3' })).body?.reserved_ip as {
      ip: string;
    };
    await send('POST', '/v2/reserved_ips', 202, { droplet_id: droplet.id });
    const assign = (
      await send('POST', `/v2/reserved_ips/${reserved.ip}/actions`, 201, {
        type: 'assign',
        droplet_id: droplet.id,
      })
    ).body?.action as { id: number };
    const floating = (await send('POST', '/v2/floating_ips', 202, { region: 'nyc3' })).body?.floating_ip as {
      ip: string;
    };
    await send('POST', `/v2/floating_ips/${floating.ip}/actions`, 201, {
      type: 'assign',
      droplet_id: droplet.id,
    });
    const ipv6 = (await send('POST', '/v2/reserved_ipv6', 201, { region_slug: 'nyc3' })).body
      ?.reserved_ipv6 as {
      ip: string;
    };
    await send('POST', `/v2/reserved_ipv6/${ipv6.ip}/actions`, 201, {
      type: 'assign',
      droplet_id: droplet.id,
    });
    const share = (
      await send('POST', '/v2/nfs', 201, {
        name: 'shared',
        size_gib: 50,
        region: 'nyc3',
        vpc_ids: ['796c6fe3-2a1d-4da2-9f3e-38239827dc91'],
      })
    ).body?.share as { id: string };
    const resize = (
      await send('POST', `/v2/nfs/${share.id}/actions`, 201, { type: 'resize', params: { size_gib: 100 } })
    ).body?.action as { id: string };
    // Every action so far runs as long and started no later: when this one ends, they all have.
    await ended(Number(resize.id));

    await send('GET', `/v2/droplets/${droplet.id}`, 200);
    await send('GET', '/v2/actions?per_page=50', 200);
    await send('GET', `/v2/actions/${resize.id}`, 200);
    await send('GET', `/v2/volumes/${volume.id}`, 200);
    await send('GET', `/v2/volumes/${volume.id}/actions`, 200);
    await send('GET', `/v2/volumes/${volume.id}/actions/${attach.id}`, 200);
    await send('POST', '/v2/volumes/actions', 202, {
      type: 'detach',
      volume_name: 'data',
      region: 'nyc3',
      droplet_id: droplet.id,
    });
    await send('GET', `/v2/reserved_ips/${reserved.ip}`, 200);
    await send('GET', `/v2/reserved_ips/${reserved.ip}/actions`, 200);
    await send('GET', `/v2/reserved_ips/${reserved.ip}/actions/${assign.id}`, 200);
    await send('GET', `/v2/floating_ips/${floating.ip}`, 200);
    await send('GET', `/v2/floating_ips/${floating.ip}/actions`, 200);
    await send('GET', `/v2/reserved_ipv6/${ipv6.ip}`, 200);
    await send('GET', `/v2/nfs/${share.id}`, 200);

    await send('DELETE', `/v2/volumes/${volume.id}`, 204);
    await send('DELETE', `/v2/reserved_ips/${reserved.ip}`, 204);
    await send('DELETE', `/v2/nfs/${share.id}`, 204);
    await send('DELETE', `/v2/droplets/${droplet.id}`, 204);
    await send('GET', `/v2/droplets/${droplet.id}`, 404);

    expect(problems).toEqual([]);
  });
});
