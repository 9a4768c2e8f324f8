import type { ResourceKind } from '../../src/digitalocean/models.js';
import { DROPLET_ACTION_TYPES, IMAGE_ACTION_TYPES } from '../../src/simulator/index.js';
import type { Simulator } from '../../src/simulator/simulator.js';
import type { WatchQueue } from '../../src/watches/watch-queue.js';
import { watchIdOf } from '../../src/watches/watch-ref.js';

/** Snapshots leave images behind in the simulator; the benchmark wants actions without side effects. */
const DROPLET_TYPES = DROPLET_ACTION_TYPES.filter((type) => type !== 'snapshot');

export interface StartedAction {
  watchId: string;
  kind: ResourceKind;
  resourceId: number;
  actionId: number;
  result: 'completed' | 'errored';
  /** `started_at` as the API shows it (whole seconds): what the worker's schedule ages from. */
  startedAtIso: string;
  /** The simulated completion time, to the millisecond. */
  completesAtMs: number;
}

export interface ActionSpec {
  durationMs: number;
  result?: 'completed' | 'errored';
}

/** A seeded generator (mulberry32), so every run draws the same mix. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Starts simulated actions of both kinds, alternating, each on a resource of its own. */
export class ActionFactory {
  private nextResourceId = 1_000_000;
  private count = 0;

  constructor(
    private readonly simulator: Simulator,
    private readonly random: () => number,
  ) {}

  start(specs: ActionSpec[]): StartedAction[] {
    const startedAtMs = Date.now();
    return specs.map((spec) => {
      const kind: ResourceKind = this.count++ % 2 === 0 ? 'droplet' : 'image';
      const types: readonly string[] = kind === 'droplet' ? DROPLET_TYPES : IMAGE_ACTION_TYPES;
      const resourceId = this.nextResourceId++;
      const result = spec.result ?? 'completed';
      const action = this.simulator.createAction({
        kind,
        resourceId,
        type: types[Math.floor(this.random() * types.length)] as string,
        durationMs: spec.durationMs,
        result,
        startedAt: startedAtMs,
      });
      return {
        watchId: watchIdOf({ kind, resourceId, actionId: action.id }),
        kind,
        resourceId,
        actionId: action.id,
        result,
        startedAtIso: action.started_at ?? new Date(startedAtMs).toISOString(),
        completesAtMs: startedAtMs + spec.durationMs,
      };
    });
  }
}

/** Enqueues watches of these actions in bulk adds of `chunk`. */
export async function watchActions(queue: WatchQueue, actions: StartedAction[], chunk = 500): Promise<void> {
  for (let start = 0; start < actions.length; start += chunk) {
    await queue.watchMany(
      actions
        .slice(start, start + chunk)
        .map(({ kind, resourceId, actionId }) => ({ kind, resourceId, actionId })),
    );
  }
}
