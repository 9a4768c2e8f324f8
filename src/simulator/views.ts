import type { Action } from '../digitalocean/models.js';
import type { ActionRecord, ImageRecord } from './action-store.js';
import { regionBySlug } from './regions.js';
import { isoSeconds } from './time.js';

export function actionStatus(action: ActionRecord, now: number): string {
  if (now >= action.endsAtMs) return action.result;
  if (action.initialStatus !== undefined && now < action.initialStatus.untilMs)
    return action.initialStatus.status;
  return 'in-progress';
}

export interface ActionViewOptions {
  /** The droplet-scoped GET quirk: completed actions report `completed_at: null`. */
  completedAtNull?: boolean;
}

/** The action as the API shows it at `now`, keys in DigitalOcean's order. */
export function actionView(action: ActionRecord, now: number, options: ActionViewOptions = {}): Action {
  const status = actionStatus(action, now);
  const ended = status === 'completed' || status === 'errored';
  const hideCompletedAt = options.completedAtNull === true && status === 'completed';
  return {
    id: action.id,
    status,
    type: action.type,
    started_at: action.startedAtIso,
    completed_at: ended && !hideCompletedAt ? isoSeconds(action.endsAtMs) : null,
    resource_id: action.viewResourceId,
    resource_type: action.kind,
    // Shared frozen object: serialized, never mutated.
    region: regionBySlug(action.regionSlug) as Action['region'],
    region_slug: action.regionSlug,
  };
}

/** The `image` object of GET /v2/images/{id}. */
export function imageView(image: ImageRecord): Record<string, unknown> {
  return {
    id: image.id,
    name: image.name,
    type: image.type,
    distribution: 'Ubuntu',
    slug: null,
    public: false,
    regions: image.regions,
    created_at: image.createdAtIso,
    min_disk_size: image.minDiskSize,
    size_gigabytes: image.sizeGigabytes,
    description: '',
    tags: [],
    status: 'available',
    error_message: '',
  };
}

/** An entry of GET /v2/droplets/{id}/snapshots (the spec's `droplet_snapshot`). */
export function snapshotView(image: ImageRecord): Record<string, unknown> {
  return {
    id: image.id,
    name: image.name,
    created_at: image.createdAtIso,
    regions: image.regions,
    min_disk_size: image.minDiskSize,
    size_gigabytes: image.sizeGigabytes,
    type: image.type,
  };
}
