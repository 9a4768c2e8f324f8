import { seededRandom } from '../support/actions.js';
import { type PlannedAction, planWorkload } from './workload.js';

export type ScenarioName = 'burst' | 'busy' | 'small' | 'watches';

export const SCENARIO_NAMES: readonly ScenarioName[] = ['burst', 'busy', 'small', 'watches'];

/** One workload of the fleet benchmark, with the targets issue 13 sets for it. */
export interface Scenario {
  name: ScenarioName;
  title: string;
  /** What it is, for the report. */
  setup: string;
  actions: PlannedAction[];
  workers: number;
  /** Other actions started per simulated second, all along. */
  backgroundPerSecond: number;
  history: number;
  targets: {
    p95Ms?: number;
    /** p95 at most this multiple of the detection bound. */
    p95OfBound?: number;
    maxRequests?: number;
    /** p95 at most the peer's, at most this share of its requests. */
    peerRequestShare?: number;
  };
  /** doctl's fixed poll, replayed as the peer (ms), if this scenario has one. */
  peerPollMs?: number;
}

const SECOND = 1_000;
/** Two workers, the account's 3,000 finished actions, and nobody else starting actions. */
const QUIET_ACCOUNT = { workers: 2, backgroundPerSecond: 0, history: 3_000 };
const SHORT_DROPLET_TYPES = ['reboot', 'power_cycle', 'shutdown', 'power_on'] as const;

/** `count` droplet actions on droplets of their own, started over `startSpanMs`, durations uniform in the range. */
function shortActions(
  count: number,
  startSpanMs: number,
  minMs: number,
  maxMs: number,
  seed: number,
  firstDroplet: number,
): PlannedAction[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => ({
    kind: 'droplet' as const,
    resourceId: firstDroplet + i,
    type: SHORT_DROPLET_TYPES[i % SHORT_DROPLET_TYPES.length] as string,
    startOffsetMs: random() * startSpanMs,
    durationMs: Math.round(minMs + random() * (maxMs - minMs)),
    result: random() < 0.05 ? ('errored' as const) : ('completed' as const),
  })).sort((a, b) => a.startOffsetMs - b.startOffsetMs);
}

/** `watches`: the size of the 10,000-watch run (smaller for a quick look). */
export function scenario(name: ScenarioName, watches: number): Scenario {
  switch (name) {
    case 'burst':
      return {
        name,
        title: 'Burst: 2,000 actions ending 20–80 s after they start',
        setup:
          '2,000 droplet power actions on droplets of their own, started within 5 s, each lasting 20–80 s (uniform), 2 workers, 3,000 finished actions on the account, no other activity',
        actions: shortActions(2_000, 5 * SECOND, 20 * SECOND, 80 * SECOND, 13, 7_000_000),
        ...QUIET_ACCOUNT,
        targets: { p95Ms: 8 * SECOND, maxRequests: 300 },
      };
    case 'busy':
      return {
        name,
        title: 'Busy account: 600 watched among 4,000 unwatched arriving all along',
        setup:
          '600 watched droplet actions started over 5 min, each lasting 30 s – 5 min (uniform), among other actions arriving at 6.7 per second (about 4,000 over the run), 2 workers, 3,000 finished actions on the account',
        actions: shortActions(600, 300 * SECOND, 30 * SECOND, 300 * SECOND, 14, 7_100_000),
        workers: 2,
        backgroundPerSecond: 4_000 / 600,
        history: 3_000,
        targets: { p95Ms: 8 * SECOND },
      };
    case 'small':
      return {
        name,
        title: 'Small fleet: 40 actions of 20–120 s, against doctl’s 5 s poll',
        setup:
          '40 droplet actions started within 10 s, each lasting 20–120 s (uniform), 2 workers, 3,000 finished actions on the account, no other activity; the peer is `doctl … --wait` (one GET every 5 s per action from its start), replayed over the same actions',
        actions: shortActions(40, 10 * SECOND, 20 * SECOND, 120 * SECOND, 15, 7_200_000),
        ...QUIET_ACCOUNT,
        targets: { peerRequestShare: 0.1 },
        peerPollMs: 5 * SECOND,
      };
    case 'watches':
      return {
        name,
        title: `${watches.toLocaleString('en-US')} watches`,
        setup: `${watches.toLocaleString('en-US')} actions of both kinds, 30 s to 1 h by type, started within the first simulated minute, 0.5 other actions a second all along, 2 workers, 3,000 finished actions on the account (the detailed table below)`,
        actions: planWorkload({
          actions: watches,
          rampMs: 60_000,
          erroredShare: 0.05,
          sharedImageShare: 0.1,
          seed: 6,
        }),
        workers: 2,
        backgroundPerSecond: 0.5,
        history: 3_000,
        targets: { p95OfBound: 1.1 },
      };
  }
}
