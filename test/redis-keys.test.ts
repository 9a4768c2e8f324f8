import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { QueueKeys } from 'bullmq';
import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { CHAIN_QUEUE, chainIndexKey, chainKey, recordChainOutcomeKeys } from '../src/chains/chain-keys.js';
import { loadConfig } from '../src/config/config.js';
import { budgetKeys } from '../src/digitalocean/request-budget.js';
import { durationsKey, fleetKeys } from '../src/fleet/fleet-keys.js';
import { DELIVERY_QUEUE, goneTargetsKey } from '../src/notifications/webhooks/delivery-queue.js';
import { runKeyName } from '../src/runs/run-keys.js';
import { deploymentPrefix, hashTagOf, profilePrefix } from '../src/support/key-prefix.js';
import {
  eventsKey,
  outcomeKey,
  recordOutcomeKeys,
  WATCH_QUEUE,
  watchIndexKey,
  watchQueueName,
  watchQueuePrefix,
} from '../src/watches/keys.js';

/**
 * Redis Cluster runs a script or a MULTI only when all its keys share a slot. Each script's keys
 * come from one function of a key module; this table names it, and the tests below check, for
 * every prefix and profile, that those keys share a slot in cluster mode.
 */
type Sample = { prefix: string; profile: string | undefined; id: string };
const SCRIPT_KEYS: Record<string, (sample: Sample) => string[]> = {
  'src/watches/lua/record-outcome.lua': ({ prefix, id }) => [
    ...recordOutcomeKeys(prefix, `droplet-1-${id}`),
    ...recordChainOutcomeKeys(prefix, `chain-${id}`),
  ],
  'src/digitalocean/lua/acquire-request.lua': ({ prefix, profile }) =>
    Object.values(budgetKeys(prefix, profile ?? 'default')),
  'src/digitalocean/lua/observe-rate-limit.lua': ({ prefix, profile }) => [
    budgetKeys(prefix, profile ?? 'default').state,
  ],
  'src/digitalocean/lua/pause-requests.lua': ({ prefix, profile }) => [
    budgetKeys(prefix, profile ?? 'default').state,
  ],
  'src/fleet/lua/record-observations.lua': ({ prefix, profile }) => [
    fleetKeys(prefix, profile ?? 'default').observations,
  ],
  'src/fleet/lua/register-watch.lua': ({ prefix, profile }) => {
    const keys = fleetKeys(prefix, profile ?? 'default');
    return [keys.watches, keys.due];
  },
  'src/fleet/lua/remove-watches.lua': ({ prefix, profile }) => {
    const keys = fleetKeys(prefix, profile ?? 'default');
    return [keys.due, keys.watches, keys.direct];
  },
  // Its keys are the reads it is given: the batched observer's step reads a profile's fleet state.
  'src/support/lua/read-together.lua': ({ prefix, profile }) => {
    const keys = fleetKeys(prefix, profile ?? 'default');
    return [keys.observations, keys.watches, keys.direct, keys.healthy];
  },
  'src/fleet/lua/renew-lease.lua': ({ prefix, profile }) => [fleetKeys(prefix, profile ?? 'default').lease],
  'src/fleet/lua/release-lease.lua': ({ prefix, profile }) => [fleetKeys(prefix, profile ?? 'default').lease],
  'src/runs/lua/compare-and-set.lua': ({ prefix, profile, id }) => [runKeyName(prefix, profile, `key-${id}`)],
};

/** Keys that MULTIs and multi-key commands (MGET, HMGET over several watches) take together. */
const MULTI_KEYS: Record<string, (sample: Sample) => string[]> = {
  'a profile’s fleet state (registry and store MULTIs)': ({ prefix, profile }) =>
    Object.values(fleetKeys(prefix, profile ?? 'default')),
  'a profile’s budget (usage MULTI)': ({ prefix, profile }) =>
    Object.values(budgetKeys(prefix, profile ?? 'default')),
  'outcomes of many watches (MGET)': ({ prefix, id }) =>
    ['droplet-1-1', `image-2-${id}`, `team_b.droplet-3-${id}`].map((watchId) => outcomeKey(prefix, watchId)),
  'chains and chain outcomes (MGET)': ({ prefix, id }) => [
    chainKey(prefix, `chain-${id}`),
    chainKey(prefix, 'chain-other'),
    ...recordChainOutcomeKeys(prefix, `chain-${id}`),
    ...recordChainOutcomeKeys(prefix, 'chain-other'),
  ],
  'a profile’s watch queue (BullMQ scripts)': ({ prefix, profile }) =>
    Object.values(new QueueKeys(watchQueuePrefix(prefix, profile)).getKeys(watchQueueName(profile))).filter(
      (key) => key !== '',
    ),
};

/** Everything of the deployment itself: one slot, so that any later script may span it. */
function deploymentKeys(prefix: string): string[] {
  return [
    eventsKey(prefix),
    outcomeKey(prefix, 'droplet-1-2'),
    watchIndexKey(prefix),
    chainKey(prefix, 'chain-x'),
    chainIndexKey(prefix),
    goneTargetsKey(prefix),
    durationsKey(prefix),
    ...[WATCH_QUEUE, CHAIN_QUEUE, DELIVERY_QUEUE].flatMap((queue) =>
      Object.values(new QueueKeys(prefix).getKeys(queue)).filter((key) => key !== ''),
    ),
    ...Object.values(budgetKeys(prefix, 'default')),
    ...Object.values(fleetKeys(prefix, 'default')),
    runKeyName(prefix, undefined, 'release-42'),
  ];
}

const CONFIGURED_PREFIXES = ['actionwatch', 'awtest-x-1', 'team.prod', '{shared}', 'app-{aw}-prod'];
const PROFILES = [undefined, 'default', 'team_b', 'z9'];

function samples(): Sample[] {
  return CONFIGURED_PREFIXES.flatMap((configured) =>
    PROFILES.flatMap((profile) =>
      ['1', '29410565', 'release-42'].map((id) => ({
        prefix: deploymentPrefix(configured, { cluster: true }),
        profile,
        id,
      })),
    ),
  );
}

function luaFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return luaFiles(path);
    return entry.name.endsWith('.lua') ? [relative(process.cwd(), path)] : [];
  });
}

function slotOf(keys: string[]): number {
  return calculateSlot.generateMulti(keys);
}

describe('cluster-correct keys', () => {
  it('every Lua script under src has its keys function in the table', () => {
    expect(luaFiles('src').sort()).toEqual(Object.keys(SCRIPT_KEYS).sort());
  });

  it.each(Object.entries(SCRIPT_KEYS))(
    '%s: its keys share one slot for every prefix and profile',
    (_, keys) => {
      for (const sample of samples()) {
        const computed = keys(sample);
        expect(computed.length).toBeGreaterThan(0);
        expect(slotOf(computed), `${JSON.stringify(sample)}: ${computed.join(' ')}`).not.toBe(-1);
      }
    },
  );

  it.each(Object.entries(MULTI_KEYS))('%s: one slot for every prefix and profile', (_, keys) => {
    for (const sample of samples()) {
      const computed = keys(sample);
      expect(slotOf(computed), `${JSON.stringify(sample)}: ${computed.join(' ')}`).not.toBe(-1);
    }
  });

  it('a deployment’s own data (queues, outcomes, events, chains, deliveries, default profile) shares one slot', () => {
    for (const configured of CONFIGURED_PREFIXES) {
      const keys = deploymentKeys(deploymentPrefix(configured, { cluster: true }));
      expect(slotOf(keys), keys.join(' ')).toBe(
        calculateSlot(eventsKey(deploymentPrefix(configured, { cluster: true }))),
      );
    }
  });

  it('a named profile’s keys are tagged apart from its deployment’s, so profiles spread over the cluster', () => {
    const prefix = deploymentPrefix('actionwatch', { cluster: true });
    expect(prefix).toBe('{actionwatch}');
    const tags = new Set(
      [undefined, 'team_b', 'team_c'].map((profile) =>
        hashTagOf(fleetKeys(prefix, profile ?? 'default').due),
      ),
    );
    expect([...tags]).toEqual(['actionwatch', 'actionwatch:team_b', 'actionwatch:team_c']);
    expect(hashTagOf(budgetKeys(prefix, 'team_b').state)).toBe('actionwatch:team_b');
    expect(hashTagOf(`${watchQueuePrefix(prefix, 'team_b')}:${watchQueueName('team_b')}:wait`)).toBe(
      'actionwatch:team_b',
    );
    expect(hashTagOf(runKeyName(prefix, 'team_b', 'k'))).toBe('actionwatch:team_b');
    // A prefix holds no `:`, so no deployment's tag is ever a profile's.
    expect(hashTagOf(deploymentPrefix('actionwatch.team_b', { cluster: true }))).toBe('actionwatch.team_b');
  });

  it('a configured tag is kept; braces that make no tag still give every key one tag', () => {
    expect(deploymentPrefix('app-{aw}-prod', { cluster: true })).toBe('app-{aw}-prod');
    expect(profilePrefix('app-{aw}-prod', 'team_b')).toBe('app-{aw:team_b}-prod');
    for (const odd of ['a{}b', 'a{b', 'a}b{c']) {
      const prefix = deploymentPrefix(odd, { cluster: true });
      expect(slotOf([...deploymentKeys(prefix), ...recordOutcomeKeys(prefix, 'x')])).not.toBe(-1);
    }
  });

  it('without cluster mode, an untagged prefix keeps every key name it had before hash tags', () => {
    const prefix = deploymentPrefix('actionwatch', { cluster: false });
    expect(prefix).toBe('actionwatch');
    expect(recordOutcomeKeys(prefix, 'droplet-1-2')).toEqual([
      'actionwatch:outcome:droplet-1-2',
      'actionwatch:events',
    ]);
    expect(recordChainOutcomeKeys(prefix, 'chain-a')).toEqual([
      'actionwatch:chain-outcome:chain-a',
      'actionwatch:events',
    ]);
    expect(budgetKeys(prefix, 'default').minute).toBe('actionwatch:budget:default:minute');
    expect(budgetKeys(prefix, 'team_b').state).toBe('actionwatch:budget:team_b:state');
    expect(fleetKeys(prefix, 'team_b').observations).toBe('actionwatch:fleet:team_b:obs');
    expect(fleetKeys(prefix, 'default').lease).toBe('actionwatch:fleet:default:lease');
    expect(runKeyName(prefix, undefined, 'r42')).toBe('actionwatch:run-key:r42');
    expect(runKeyName(prefix, 'team_b', 'r42')).toBe('actionwatch:run-key:team_b:r42');
    expect(watchQueuePrefix(prefix, 'team_b')).toBe('actionwatch');
    expect(watchQueuePrefix(prefix, undefined)).toBe('actionwatch');
  });

  it('the configuration tags the prefix in cluster mode only, and keeps a tag it was given', () => {
    const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' };
    expect(loadConfig({}).prefix).toBe('actionwatch');
    expect(loadConfig({ ACTIONWATCH_PREFIX: '{aw}' }).prefix).toBe('{aw}');
    expect(loadConfig(cluster).prefix).toBe('{actionwatch}');
    expect(loadConfig({ ...cluster, ACTIONWATCH_PREFIX: 'team.prod' }).prefix).toBe('{team.prod}');
    expect(loadConfig({ ...cluster, ACTIONWATCH_PREFIX: 'app-{aw}' }).prefix).toBe('app-{aw}');
  });
});
