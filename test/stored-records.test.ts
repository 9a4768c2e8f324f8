import { afterAll, describe, expect, it } from 'vitest';
import type { ChainOutcomeRecord, ChainRecord } from '../src/chains/chain.js';
import { chainKey, chainOutcomeKey } from '../src/chains/chain-keys.js';
import { ChainOutcomeStore } from '../src/chains/chain-outcome-store.js';
import { ChainStore } from '../src/chains/chain-store.js';
import { CorruptRecordError } from '../src/errors/corrupt-record-error.js';
import { EventStream } from '../src/notifications/event-stream.js';
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
