import { afterEach, describe, expect, it } from 'vitest';
import { requestsFromArgs } from '../src/cli/commands/watch.js';
import { loadConfig, requireProfileToken } from '../src/config/config.js';
import { watchQueueName } from '../src/watches/keys.js';
import { parseTokenProfile, parseWatchId, watchIdOf } from '../src/watches/watch-ref.js';
import { SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';

describe('token profiles: configuration, ids and queues', () => {
  it('reads DIGITALOCEAN_TOKEN_<NAME> as profile <name>, keeps it secret, and names bad ones', () => {
    const config = loadConfig({ DIGITALOCEAN_TOKEN: 'a', DIGITALOCEAN_TOKEN_TEAM_B: 'dop_v1_teamb' });
    expect(Object.keys(config.digitalocean.profiles)).toEqual(['team_b']);
    expect(config.digitalocean.profiles.team_b?.reveal()).toBe('dop_v1_teamb');
    expect(JSON.stringify(config)).not.toContain('dop_v1_teamb');
    expect(() => loadConfig({ DIGITALOCEAN_TOKEN_9X: 'x' })).toThrow(
      /DIGITALOCEAN_TOKEN_9X: a token profile name/,
    );
    expect(() => loadConfig({ DIGITALOCEAN_TOKEN_DEFAULT: 'x' })).toThrow(/not DEFAULT/);
    expect(() => requireProfileToken(config, 'ops')).toThrow(/DIGITALOCEAN_TOKEN_OPS is not set/);
    expect(requireProfileToken(config, 'team_b').reveal()).toBe('dop_v1_teamb');
    expect(() => loadConfig({ OBSERVE_MODE: 'lists' })).toThrow(
      /OBSERVE_MODE must be one of batched, direct/,
    );
  });

  it('gives a profile’s watches ids and a queue of their own; the default token’s stay as they were', async () => {
    const ref = { kind: 'droplet' as const, resourceId: 3, actionId: 4 };
    expect(watchIdOf(ref)).toBe('droplet-3-4');
    expect(watchIdOf({ ...ref, tokenProfile: 'team_b' })).toBe('team_b.droplet-3-4');
    expect(parseWatchId('team_b.droplet-3-4')).toEqual({ ...ref, tokenProfile: 'team_b' });
    expect(parseWatchId('droplet-3-4')).toEqual(ref);
    expect(parseWatchId('Team.droplet-3-4')).toBeUndefined();
    expect(watchQueueName(undefined)).toBe('watches');
    expect(watchQueueName('team_b')).toBe('watches.team_b');
    expect(parseTokenProfile('TEAM_B')).toBe('team_b');
    expect(parseTokenProfile('default')).toBeUndefined();
    expect(() => parseTokenProfile('team-b')).toThrow(/token profile must be/);
    const [request] = await requestsFromArgs(['image', '7', '8'], { tokenProfile: 'Team_B' }, 'usage');
    expect(request).toEqual({ kind: 'image', resourceId: 7, actionId: 8, tokenProfile: 'team_b' });
  });
});

describe('two token profiles (real Redis, simulator over HTTP)', () => {
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('one token rate-limited by someone else pauses only its own watches; the other keeps its pace', async () => {
    stack = await startStack({
      name: 'fleet-profiles',
      simulator: { tokens: [SIM_TOKEN, 'tok-slow', 'tok-fast'], rateLimit: { perMinute: 20, perHour: 5000 } },
      env: {
        OBSERVE_MODE: 'batched',
        DIGITALOCEAN_TOKEN_SLOW: 'tok-slow',
        DIGITALOCEAN_TOKEN_FAST: 'tok-fast',
        RATE_LIMIT_PER_MINUTE: '20',
      },
    });
    const { simulator, runtime } = stack;
    // Someone else spends tok-slow's minute.
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${simulator.url}/v2/actions`, {
        headers: { authorization: 'Bearer tok-slow' },
      });
      expect(response.status).toBe(200);
    }
    const start = (tokenProfile: string, first: number) =>
      Array.from({ length: 6 }, (_, i) => {
        const action = simulator.createAction({
          kind: 'droplet',
          resourceId: first + i,
          durationMs: 300 + i * 100,
        });
        return { kind: 'droplet' as const, resourceId: first + i, actionId: action.id, tokenProfile };
      });
    const slow = await runtime.watches.watchMany(start('slow', 100));
    const fast = await runtime.watches.watchMany(start('fast', 200));
    expect(fast[0]?.watch.id).toMatch(/^fast\.droplet-200-\d+$/);
    await runtime.startWorker({ concurrency: 6 });
    const started = Date.now();
    const records = await Promise.all(
      fast.map(({ watch }) => runtime.waitForOutcome(watch.id, { timeoutMs: 10_000 })),
    );
    expect(records.map((record) => record?.outcome)).toEqual(Array(6).fill('completed'));
    expect(records[0]?.watch.tokenProfile).toBe('fast');
    expect(Date.now() - started).toBeLessThan(5_000);
    // tok-slow met a 429 and its profile is paused; the fast profile's budget never was.
    await until(() => (simulator.stats().rateLimited > 0 ? true : undefined));
    expect((await runtime.budget('slow').usage()).pausedUntil).toBeGreaterThan(Date.now() + 30_000);
    expect((await runtime.budget('fast').usage()).pausedUntil).toBe(0);
    const waiting = await runtime.watches.getMany(slow.map(({ watch }) => watch.id));
    expect(waiting.map((watch) => watch?.state)).toEqual(Array(6).fill('waiting'));
    expect(waiting[0]?.tokenProfile).toBe('slow');
    expect(simulator.stats().byToken['tok-fast']).toBeGreaterThan(0);
  });
});
