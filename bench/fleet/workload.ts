import type { ResourceKind } from '../../src/digitalocean/models.js';
import { seededRandom } from '../support/actions.js';

/** A kind of action in the mix: its type, and the range its durations are drawn from (log-uniform). */
interface ActionKind {
  kind: ResourceKind;
  type: string;
  minMs: number;
  maxMs: number;
  /** Relative share of the mix. */
  weight: number;
}

const SECOND = 1_000;
const MINUTE = 60_000;

/**
 * The mix: quick power actions, droplet changes of a few minutes, and image conversions and
 * transfers of up to an hour, so durations run from 30 s to an hour and the type says something
 * about the duration (what the planner learns when the budget is short).
 */
const MIX: readonly ActionKind[] = [
  { kind: 'droplet', type: 'reboot', minMs: 30 * SECOND, maxMs: 90 * SECOND, weight: 14 },
  { kind: 'droplet', type: 'power_cycle', minMs: 30 * SECOND, maxMs: 2 * MINUTE, weight: 10 },
  { kind: 'droplet', type: 'shutdown', minMs: 30 * SECOND, maxMs: MINUTE, weight: 8 },
  { kind: 'droplet', type: 'power_on', minMs: 30 * SECOND, maxMs: MINUTE, weight: 8 },
  { kind: 'droplet', type: 'enable_backups', minMs: MINUTE, maxMs: 5 * MINUTE, weight: 6 },
  { kind: 'droplet', type: 'resize', minMs: 2 * MINUTE, maxMs: 20 * MINUTE, weight: 8 },
  { kind: 'droplet', type: 'rebuild', minMs: 3 * MINUTE, maxMs: 15 * MINUTE, weight: 6 },
  { kind: 'droplet', type: 'restore', minMs: 10 * MINUTE, maxMs: 60 * MINUTE, weight: 5 },
  { kind: 'image', type: 'convert', minMs: 5 * MINUTE, maxMs: 30 * MINUTE, weight: 15 },
  { kind: 'image', type: 'transfer', minMs: 10 * MINUTE, maxMs: 60 * MINUTE, weight: 20 },
];

export interface PlannedAction {
  kind: ResourceKind;
  resourceId: number;
  type: string;
  /** Simulated milliseconds after the run's start. */
  startOffsetMs: number;
  durationMs: number;
  result: 'completed' | 'errored';
}

export interface WorkloadSettings {
  actions: number;
  /** Simulated span over which the actions start. */
  rampMs: number;
  erroredShare: number;
  /** Share of image transfers that run several to one image (transfers to many regions at once). */
  sharedImageShare: number;
  seed: number;
}

const FIRST_DROPLET = 2_000_000;
const FIRST_IMAGE = 3_000_000;
const TRANSFERS_PER_SHARED_IMAGE = 8;

/** The same actions for the same settings, every run. */
export function planWorkload(settings: WorkloadSettings): PlannedAction[] {
  const random = seededRandom(settings.seed);
  const totalWeight = MIX.reduce((sum, kind) => sum + kind.weight, 0);
  let nextDroplet = FIRST_DROPLET;
  let nextImage = FIRST_IMAGE;
  let sharedImage = 0;
  let sharedLeft = 0;
  const planned: PlannedAction[] = [];
  for (let i = 0; i < settings.actions; i++) {
    const chosen = pickWeighted(random() * totalWeight);
    let resourceId: number;
    if (chosen.kind === 'droplet') resourceId = nextDroplet++;
    else if (chosen.type === 'transfer' && (sharedLeft > 0 || random() < settings.sharedImageShare)) {
      if (sharedLeft === 0) {
        sharedImage = nextImage++;
        sharedLeft = TRANSFERS_PER_SHARED_IMAGE;
      }
      resourceId = sharedImage;
      sharedLeft--;
    } else resourceId = nextImage++;
    const low = Math.log(chosen.minMs);
    const high = Math.log(chosen.maxMs);
    planned.push({
      kind: chosen.kind,
      resourceId,
      type: chosen.type,
      startOffsetMs: random() * settings.rampMs,
      durationMs: Math.round(Math.exp(low + random() * (high - low))),
      result: random() < settings.erroredShare ? 'errored' : 'completed',
    });
  }
  return planned.sort((a, b) => a.startOffsetMs - b.startOffsetMs);
}

/** The kind whose share of the total weight holds `point`. */
function pickWeighted(point: number): ActionKind {
  let left = point;
  for (const kind of MIX) {
    left -= kind.weight;
    if (left < 0) return kind;
  }
  return MIX[MIX.length - 1] as ActionKind;
}
