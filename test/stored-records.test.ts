import { afterAll, describe, expect, it } from 'vitest';
import type { ChainOutcomeRecord, ChainRecord } from '../src/chains/chain.js';
import { chainKey, chainOutcomeKey } from '../src/chains/chain-keys.js';
import { ChainOutcomeStore } from '../src/chains/chain-outcome-store.js';
import { ChainStore } from '../src/chains/chain-store.js';
import { CorruptRecordError } from '../src/errors/corrupt-record-error.js';
import { fleetKeys } from '../src/fleet/fleet-keys.js';
import { ObservationStore } from '../src/fleet/observation-store.js';
import { WatchRegistry } from '../src/fleet/watch-registry.js';
import { EventStream } from '../src/notifications/event-stream.js';
import { RunKeys } from '../src/runs/run-keys.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import { eventsKey, outcomeKey } from '../src/watches/keys.js';
import { OutcomeStore } from '../src/watches/outcome-store.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { REDIS_TARGET, testPrefix } from './support/stack.js';

const prefix = testPrefix('stored-records');
const redis = createRedis(REDIS_TARGET);
const options = { prefix, retentionMs: 60_000, eventsMaxLength: 1_000 };

afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
});

function outcome(watchId: string): OutcomeRecord {
  return {
    type: 'action.completed',
    outcome: 'completed',
    watch: {
      id: watchId,
      kind: 'droplet',
      resourceId: 1,
      actionId: 7,
      enqueuedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:00.000Z',
      polls: 2,
    },
    // A field the schema does not name: read back as it was written.
    action: { id: 7, status: 'completed', type: 'reboot', region_slug: 'nyc3', extra: { kept: true } },
  };
}

function chain(id: string): ChainRecord {
  return {
    id,
    fingerprint: 'f',
    createdAt: '2026-01-01T00:00:00.000Z',
    plan: { steps: [{ id: 'one', runs: [{ kind: 'droplet', resourceId: 1, type: 'reboot' }] }] },
    current: 0,
    steps: [{ id: 'one', status: 'pending', runs: [{ kind: 'droplet', type: 'reboot', resourceId: 1 }] }],
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('records read back from Redis', () => {
  const outcomes = new OutcomeStore(redis, options);
  const chains = new ChainStore(redis, { prefix, retentionMs: 60_000 });
  const chainOutcomes = new ChainOutcomeStore(redis, options);

  it('are exactly what was written, fields the schema does not name included', async () => {
    const record = outcome('droplet-1-7');
    const result = await outcomes.record(record);
    expect(result).toMatchObject({ created: true, record });
    expect(await outcomes.get('droplet-1-7')).toEqual(record);
    expect(await outcomes.getMany(['droplet-1-7', 'droplet-1-8'])).toEqual([record, undefined]);
    const again = await outcomes.record({ ...record, outcome: 'cancelled', type: 'action.cancelled' });
    expect(again).toEqual({ created: false, record, eventId: undefined });

    expect(await chains.create(chain('chain-a'))).toBe(true);
    expect(await chains.get('chain-a')).toEqual(chain('chain-a'));
  });

  it('an outcome that is not JSON is an error naming its key', async () => {
    await redis.set(outcomeKey(prefix, 'droplet-1-9'), '{"type":');
    const read = outcomes.get('droplet-1-9');
    await expect(read).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(read).rejects.toThrow(
      `the record at Redis key ${outcomeKey(prefix, 'droplet-1-9')} is not readable: not JSON`,
    );
    await expect(outcomes.getMany(['droplet-1-7', 'droplet-1-9'])).rejects.toMatchObject({
      key: outcomeKey(prefix, 'droplet-1-9'),
    });
  });

  it('a record of the wrong shape is an error naming its key and the field', async () => {
    const { watch: _watch, ...noWatch } = outcome('droplet-1-10');
    await redis.set(outcomeKey(prefix, 'droplet-1-10'), JSON.stringify(noWatch));
    await expect(outcomes.get('droplet-1-10')).rejects.toThrow(
      new RegExp(`key ${outcomeKey(prefix, 'droplet-1-10')} is not readable: .* at watch$`),
    );

    const broken = { ...chain('chain-b'), steps: [{ id: 'one', status: 'sleeping', runs: [] }] };
    await redis.set(chainKey(prefix, 'chain-b'), JSON.stringify(broken));
    await expect(chains.get('chain-b')).rejects.toMatchObject({
      name: 'CorruptRecordError',
      key: chainKey(prefix, 'chain-b'),
      problem: expect.stringContaining('at steps.0.status'),
    });
    await expect(chains.getMany(['chain-a', 'chain-b'])).rejects.toBeInstanceOf(CorruptRecordError);

    await redis.set(chainOutcomeKey(prefix, 'chain-c'), JSON.stringify(outcome('droplet-1-11')));
    await expect(chainOutcomes.get('chain-c')).rejects.toMatchObject({
      key: chainOutcomeKey(prefix, 'chain-c'),
    });
  });

  it('stream entries carry typed records: a watch’s outcome or a chain’s, and a malformed one is skipped', async () => {
    const stream = new EventStream(redis, prefix);
    const after = await stream.lastId();
    const chainOutcome: ChainOutcomeRecord = {
      type: 'chain.completed',
      outcome: 'completed',
      chain: { id: 'chain-a', createdAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:02:00.000Z' },
      steps: chain('chain-a').steps,
    };
    await chainOutcomes.record(chainOutcome);
    await redis.xadd(
      eventsKey(prefix),
      '*',
      'type',
      'chain.failed',
      'watch',
      'chain-x',
      'data',
      '{"chain":{}}',
    );
    await outcomes.record(outcome('droplet-1-12'));
    const events = await stream.readAfter(after);
    expect(events.map((event) => [event.subject, event.type, event.watchId])).toEqual([
      ['chain', 'chain.completed', 'chain-a'],
      ['watch', 'action.completed', 'droplet-1-12'],
    ]);
    expect(events[0]?.record).toEqual(chainOutcome);
    expect(events[1]?.record).toEqual(outcome('droplet-1-12'));
  });
});

describe('run keys read back from Redis', () => {
  const keys = new RunKeys(redis, { prefix, retentionMs: 60_000 });

  it('are the record written, and a damaged one is an error naming its key, never "no claim"', async () => {
    const started = {
      state: 'started' as const,
      fingerprint: 'f',
      kind: 'droplet' as const,
      resourceId: 1,
      actionId: 7,
      action: { id: 7, status: 'in-progress', type: 'reboot' },
      recordedAt: '2026-01-01T00:00:00.000Z',
    };
    const raw = await keys.compareAndSet('release-1', undefined, started);
    expect(await keys.get('release-1')).toEqual({ raw, record: started });

    await redis.set(keys.redisKey('release-2'), '{"state":');
    await expect(keys.get('release-2')).rejects.toMatchObject({
      name: 'CorruptRecordError',
      key: keys.redisKey('release-2'),
      problem: expect.stringContaining('not JSON'),
    });
    await redis.set(keys.redisKey('release-3'), JSON.stringify({ ...started, actionId: 'seven' }));
    await expect(keys.get('release-3')).rejects.toMatchObject({
      key: keys.redisKey('release-3'),
      problem: expect.stringContaining('at actionId'),
    });
  });
});

describe('fleet bookkeeping read back from Redis', () => {
  const fleet = fleetKeys(prefix, 'default');
  const registry = new WatchRegistry(redis, fleet);
  const observations = new ObservationStore(redis, fleet);

  it('is what was written, and a damaged entry reads as absent (the next step writes it afresh)', async () => {
    const entry = { enqueuedAt: 1, deadlineAt: 2, wakeAt: 3, givenAt: 0 };
    await registry.register('droplet-1-7', entry, 5, true);
    await redis.hset(fleet.watches, 'droplet-1-8', '{"e":');
    await redis.hset(fleet.watches, 'droplet-1-9', JSON.stringify({ e: 1, d: 2, w: 'soon', g: 0 }));
    const entries = await registry.entries(['droplet-1-7', 'droplet-1-8', 'droplet-1-9']);
    expect([...entries]).toEqual([['droplet-1-7', entry]]);

    const observation = {
      action: { id: 7, status: 'in-progress', type: 'reboot' },
      observedAt: 10,
      apiObservedAt: 11,
      via: 'list' as const,
    };
    await observations.record([observation]);
    await redis.hset(fleet.observations, '8', '{"o":');
    await redis.hset(
      fleet.observations,
      '9',
      JSON.stringify({ t: 0, o: 1, q: 1, v: 'psychic', a: { id: 9 } }),
    );
    const found = await observations.getMany([7, 8, 9]);
    expect([...found]).toEqual([[7, observation]]);
  });
});
