// biome-ignore-all lint/suspicious/noTemplateCurlyInString: chain plans write references as ${steps.<id>.<field>}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainDryRun } from '../src/chains/chain-dry-run.js';
import { loadConfig } from '../src/config/config.js';
import { Simulator } from '../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix, type Redis } from '../src/support/redis.js';
import { pollsWithin } from '../src/watches/schedule.js';
import { runCli } from './support/cli.js';
import { REDIS_ENV, REDIS_TARGET, SIM_TOKEN, testPrefix } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

const PLAN = `
name: release-42
timeout: 2h
steps:
  - id: snapshot
    run: { droplet: 3164444, type: snapshot, params: { name: web-release-42 } }
  - id: transfer
    run:
      - { image: "\${steps.snapshot.imageId}", type: transfer, region: ams3 }
      - { image: "\${steps.snapshot.imageId}", type: transfer, region: sfo3 }
  - id: power-on
    timeout: 10m
    run: { droplet: "\${steps.snapshot.resourceId}", type: power_on }
onFailure:
  - id: back-on
    run: { droplet: 3164444, type: power_on }
`;

describe('actionwatch chain --dry-run', () => {
  // No Runtime in this process: nothing here writes under the prefix but the CLI under test.
  let simulator: Simulator;
  let redis: Redis;
  let env: Record<string, string>;
  const prefix = testPrefix('cli-chain-dry-run');
  const files = new TempDir('aw-dry-run');
  const keys = () => redis.keys(`${prefix}*`);

  beforeAll(async () => {
    simulator = await Simulator.start({ tokens: [SIM_TOKEN], rateLimit: false });
    redis = createRedis(REDIS_TARGET);
    // No DIGITALOCEAN_TOKEN: a dry run needs none.
    env = {
      ...REDIS_ENV,
      ACTIONWATCH_PREFIX: prefix,
      DIGITALOCEAN_API_URL: simulator.url,
      POLL_MIN_INTERVAL: '2s',
      POLL_MAX_INTERVAL: '60s',
    };
  });

  afterAll(async () => {
    files.remove();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await simulator?.close();
  });

  it('prints the steps in order, their API calls and a request estimate; sends and stores nothing', async () => {
    const plan = files.file(PLAN, 'plan.yaml');
    const text = await runCli(['chain', plan, '--dry-run'], env);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('chain release-42: dry run, nothing sent to DigitalOcean, nothing stored');
    expect(lines.filter((line) => /^(step|onFailure)/.test(line))).toEqual([
      'step snapshot',
      'step transfer (2 actions at once)',
      'step power-on',
      'onFailure (only when the chain fails)',
      'step back-on',
    ]);
    const calls = lines.filter((line) => /^ {4}(POST|GET)/.test(line)).map((line) => line.trim());
    expect(calls[0]).toBe('POST /v2/droplets/3164444/actions {"name":"web-release-42","type":"snapshot"}');
    expect(calls[1]).toMatch(
      /^GET {2}\/v2\/droplets\/3164444\/actions\/\{actionId\} {2}×\d+ typically, ≤\d+$/,
    );
    expect(calls[2]).toMatch(/^GET {2}\/v2\/droplets\/3164444\/snapshots /);
    // An image id is known only once the snapshot ran: shown as the reference.
    expect(calls[3]).toBe(
      'POST /v2/images/${steps.snapshot.imageId}/actions {"type":"transfer","region":"ams3"}',
    );
    // A resource id written in the plan is known already.
    expect(calls).toContain('POST /v2/droplets/3164444/actions {"type":"power_on"}');
    expect(lines.at(-2)).toMatch(/^requests: 4 POSTs; \d+ requests typically, at most \d+; onFailure adds /);
    expect(lines.at(-1)).toMatch(
      /^estimate: POSTs: one per action \(a delete sends one DELETE instead.*\)\. GETs: a watch polls /,
    );

    const json = await runCli(['chain', plan, '--dry-run', '--output', 'json'], env);
    expect(json.code).toBe(0);
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
    const dryRun = JSON.parse(json.stdout) as ChainDryRun;
    expect(dryRun).toMatchObject({ dryRun: true, name: 'release-42' });
    expect(dryRun.steps.map((step) => [step.id, step.actions.map((action) => action.resource)])).toEqual([
      ['snapshot', [3164444]],
      ['transfer', ['${steps.snapshot.imageId}', '${steps.snapshot.imageId}']],
      ['power-on', [3164444]],
    ]);
    // The schedule the CLI ran with: the one its environment configures.
    const schedule = loadConfig(env).schedule;
    expect(schedule.minIntervalMs).toBe(2_000);
    const powerOn = dryRun.steps[2]?.actions[0];
    expect(powerOn).toMatchObject({ timeoutMs: 600_000, typicalMs: 60_000 });
    expect(powerOn?.calls.map((call) => [call.method, call.count])).toEqual([
      ['POST', { typical: 1, worst: 1 }],
      ['GET', { typical: pollsWithin(schedule, 60_000), worst: pollsWithin(schedule, 600_000) }],
    ]);
    const counted = dryRun.steps.flatMap((step) => step.actions.flatMap((action) => action.calls));
    expect(dryRun.requests.steps).toEqual({
      posts: 4,
      typical: counted.reduce((sum, call) => sum + call.count.typical, 0),
      worst: counted.reduce((sum, call) => sum + call.count.worst, 0),
    });
    expect(dryRun.onFailure?.map((step) => step.id)).toEqual(['back-on']);
    expect(dryRun.requests.onFailure?.posts).toBe(1);

    expect(simulator.requestLog()).toEqual([]);
    expect(await keys()).toEqual([]);
  });

  it('refuses a bad plan with the field named, and --dry-run with --wait', async () => {
    const bad = files.file(
      JSON.stringify({
        steps: [{ run: { droplet: 1, type: 'reboot' } }],
        onFailure: [{ run: { droplet: 'x', type: 'power_on' } }],
      }),
      'bad.json',
    );
    const refused = await runCli(['chain', bad, '--dry-run'], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/onFailure\[0\]\.run\.droplet /);

    const plan = files.file(PLAN, 'again.yaml');
    const both = await runCli(['chain', plan, '--dry-run', '--wait'], env);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/'--dry-run' cannot be used with option '--wait'/);
    const output = await runCli(['chain', plan, '--output', 'json'], env);
    expect(output.code).toBe(1);
    expect(output.stderr).toMatch(/--output is for --dry-run/);
    expect(simulator.requestLog()).toEqual([]);
  });
});
