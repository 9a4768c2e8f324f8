import { describe, expect, it } from 'vitest';
import type { Chain } from '../src/chains/chain.js';
import {
  chainStatus,
  followStatus,
  runningWatchIds,
  StatusLine,
  type StatusStream,
  shortDuration,
  watchStatus,
} from '../src/cli/status-line.js';
import type { Watch } from '../src/watches/watch.js';
import { until } from './support/stack.js';

class Capture implements StatusStream {
  readonly writes: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 80,
  ) {}
  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }
  get text(): string {
    return this.writes.join('');
  }
}

const NOW = Date.parse('2026-01-01T12:00:00Z');

const watch: Watch = {
  id: 'droplet-1-2',
  kind: 'droplet',
  resourceId: 1,
  actionId: 2,
  state: 'waiting',
  outcome: null,
  action: {
    id: 2,
    status: 'in-progress',
    type: 'power_on',
    started_at: new Date(NOW - 65_000).toISOString(),
  } as Watch['action'],
  polls: 4,
  enqueuedAt: new Date(NOW - 70_000).toISOString(),
  finishedAt: null,
  deadlineAt: new Date(NOW + 3_600_000).toISOString(),
  eta: new Date(NOW + 190_000).toISOString(),
  etaBasis: 'learned',
};

describe('StatusLine', () => {
  it('writes nothing at all when the stream is not a terminal', async () => {
    const stream = new Capture(false);
    const line = new StatusLine(stream);
    line.draw(['one']);
    line.clear();
    const controller = new AbortController();
    let reads = 0;
    await followStatus(
      line,
      async () => {
        reads += 1;
        return ['x'];
      },
      controller.signal,
    );
    expect(stream.writes).toEqual([]);
    expect(reads).toBe(0);
    line.print('a notice\n');
    expect(stream.text).toBe('a notice\n');
  });

  it('draws in place on a terminal: each draw erases the lines of the one before', () => {
    const stream = new Capture(true);
    const line = new StatusLine(stream);
    line.draw(['first']);
    line.draw(['second', '  step a', '  step b']);
    line.draw(['third']);
    line.clear();
    expect(stream.writes).toEqual([
      'first',
      '\r\x1b[2Ksecond\n  step a\n  step b',
      '\r\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2Kthird',
      '\r\x1b[2K',
    ]);
    // Cleared: nothing left to erase.
    line.clear();
    expect(stream.writes).toHaveLength(4);
  });

  it('prints a notice above the status and draws the status again below it', () => {
    const stream = new Capture(true);
    const line = new StatusLine(stream);
    line.draw(['status']);
    line.print('actionwatch: a notice\n');
    expect(stream.writes.slice(1)).toEqual(['\r\x1b[2K', 'actionwatch: a notice\n', 'status']);
  });

  it('cuts a line to the terminal width so that it never wraps', () => {
    const stream = new Capture(true, 30);
    new StatusLine(stream).draw(['x'.repeat(100)]);
    expect(stream.text).toBe(`${'x'.repeat(28)}…`);
    expect([...(stream.writes[0] ?? '')]).toHaveLength(29);
  });

  it('follows a status until its signal aborts, then erases it', async () => {
    const stream = new Capture(true);
    const controller = new AbortController();
    let reads = 0;
    await followStatus(
      new StatusLine(stream),
      async () => {
        reads += 1;
        if (reads === 3) controller.abort();
        return [`read ${reads}`];
      },
      controller.signal,
      1,
    );
    expect(stream.writes).toEqual(['read 1', '\r\x1b[2Kread 2', '\r\x1b[2K']);
  });
});

it('stops at once when its signal aborts, even while a read hangs', async () => {
  const stream = new Capture(true);
  const controller = new AbortController();
  let reads = 0;
  const following = followStatus(
    new StatusLine(stream),
    () => {
      reads += 1;
      // The first read answers; the second never does (Redis unreachable).
      return reads === 1 ? Promise.resolve(['first']) : new Promise<string[]>(() => {});
    },
    controller.signal,
    1,
  );
  await until(() => reads === 2 || undefined);
  controller.abort();
  await following;
  expect(stream.writes).toEqual(['first', '\r\x1b[2K']);
});

describe('status text', () => {
  it('says elapsed, eta with what it rests on, and polls for a watch', () => {
    expect(watchStatus(watch, NOW)).toBe(
      'droplet-1-2 power_on  in-progress  elapsed 1m05s  polls 4  eta ~3m10s (learned)',
    );
    expect(watchStatus({ ...watch, action: null, polls: 0, etaBasis: 'default' }, NOW)).toBe(
      'droplet-1-2  not polled yet  elapsed 1m10s  polls 0  eta ~3m10s (default)',
    );
    expect(watchStatus({ ...watch, eta: null, etaBasis: 'outlived' }, NOW)).toContain(
      'polls 4  eta unknown (outlived)',
    );
  });

  it('shortens durations', () => {
    expect(shortDuration(4_400)).toBe('4s');
    expect(shortDuration(185_000)).toBe('3m05s');
    expect(shortDuration(7_440_000)).toBe('2h04m');
  });

  it('gives a chain a line, and each action of a running step one more', () => {
    const chain: Chain = {
      id: 'chain-release',
      name: 'release-42',
      state: 'running',
      outcome: null,
      currentStep: 'transfer',
      createdAt: new Date(NOW - 300_000).toISOString(),
      updatedAt: new Date(NOW).toISOString(),
      finishedAt: null,
      steps: [
        { id: 'snapshot', status: 'completed', runs: [{ kind: 'droplet', type: 'snapshot', resourceId: 1 }] },
        {
          id: 'transfer',
          status: 'watching',
          runs: [
            { kind: 'image', type: 'transfer', resourceId: 7, watchId: 'droplet-1-2' },
            { kind: 'image', type: 'transfer', resourceId: 7 },
          ],
        },
        { id: 'later', status: 'pending', runs: [{ kind: 'droplet', type: 'power_on', resourceId: 1 }] },
      ],
    };
    expect(runningWatchIds(chain)).toEqual(['droplet-1-2']);
    expect(chainStatus(chain, new Map([[watch.id, watch]]), NOW)).toEqual([
      'chain release-42  running  steps 1/3 done  elapsed 5m00s',
      `  transfer: ${watchStatus(watch, NOW)}`,
      '  transfer: image 7 transfer  watching',
    ]);
  });
});
