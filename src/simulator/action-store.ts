import type { ResourceKind } from '../digitalocean/models.js';
import { DEFAULT_REGION_SLUG } from './regions.js';
import { isoSeconds } from './time.js';

/**
 * All simulated state: actions, the droplets and images they belong to, and the snapshot
 * images that completed `snapshot` actions leave behind. Every single-item lookup is a Map
 * hit; lists are slices of arrays kept in id order, so 10,000+ actions stay cheap to serve.
 *
 * Status is derived from the clock on every read rather than flipped by timers, so a fake
 * `now()` moves actions along without anything having to run. The only side effect of an
 * action ending (a snapshot image appearing) is applied by `settle()`, which the server calls
 * before answering each request.
 */

export type ActionResult = 'completed' | 'errored';

export interface ActionRecord {
  readonly id: number;
  readonly kind: ResourceKind;
  readonly resourceId: number;
  readonly type: string;
  readonly regionSlug: string;
  readonly startedAtMs: number;
  readonly startedAtIso: string;
  endsAtMs: number;
  result: ActionResult;
  /** An undocumented status shown before `in-progress` (e.g. `new`), until this time. */
  readonly initialStatus: { readonly status: string; readonly untilMs: number } | undefined;
  /** Name for the image a `snapshot` action creates. */
  readonly snapshotName: string | undefined;
}

export interface ImageRecord {
  readonly id: number;
  readonly name: string;
  readonly type: 'snapshot' | 'backup' | 'custom';
  readonly regions: readonly string[];
  readonly createdAtIso: string;
  readonly minDiskSize: number;
  readonly sizeGigabytes: number;
  readonly sourceDropletId: number | undefined;
}

export interface ResourceRecord {
  readonly kind: ResourceKind;
  readonly id: number;
  readonly regionSlug: string;
  readonly createdAtMs: number;
  deleted: boolean;
  readonly actionIds: number[];
  /** Actions that may still be running; pruned when checked, so it stays tiny. */
  readonly unfinished: Set<number>;
  /** Droplets only: images made by this droplet's snapshot actions, oldest first. */
  readonly snapshotIds: number[];
  /** Images only: set for images this simulator made; others get a synthesized record. */
  image: ImageRecord | undefined;
}

export interface NewAction {
  kind: ResourceKind;
  resourceId: number;
  type: string;
  durationMs: number;
  result: ActionResult;
  regionSlug: string | undefined;
  startedAtMs: number;
  initialStatus: { status: string; forMs: number } | undefined;
  snapshotName: string | undefined;
}

export interface ActionStoreOptions {
  firstActionId: number;
  firstImageId: number;
}

export class ActionStore {
  private readonly actions = new Map<number, ActionRecord>();
  /** Every live action id, ascending (= creation order). */
  private allIds: number[] = [];
  private readonly droplets = new Map<number, ResourceRecord>();
  private readonly images = new Map<number, ResourceRecord>();
  /** Snapshot actions whose image has not been made yet. */
  private readonly pendingSnapshots = new Set<ActionRecord>();
  private nextActionId: number;
  private nextImageId: number;

  constructor(options: ActionStoreOptions) {
    this.nextActionId = options.firstActionId;
    this.nextImageId = options.firstImageId;
  }

  get size(): number {
    return this.actions.size;
  }

  ids(): readonly number[] {
    return this.allIds;
  }

  get(id: number): ActionRecord | undefined {
    return this.actions.get(id);
  }

  /** A resource that exists (has been seen and not deleted). */
  resource(kind: ResourceKind, id: number): ResourceRecord | undefined {
    const resource = this.table(kind).get(id);
    return resource === undefined || resource.deleted ? undefined : resource;
  }

  isDeleted(kind: ResourceKind, id: number): boolean {
    return this.table(kind).get(id)?.deleted === true;
  }

  /** Make a resource exist (resources otherwise appear with their first action). */
  ensureResource(kind: ResourceKind, id: number, now: number, regionSlug?: string): ResourceRecord {
    const table = this.table(kind);
    const existing = table.get(id);
    if (existing !== undefined) {
      if (existing.deleted) throw new Error(`${kind} ${id} was deleted`);
      return existing;
    }
    const resource: ResourceRecord = {
      kind,
      id,
      regionSlug: regionSlug ?? DEFAULT_REGION_SLUG,
      createdAtMs: now,
      deleted: false,
      actionIds: [],
      unfinished: new Set(),
      snapshotIds: [],
      image: undefined,
    };
    table.set(id, resource);
    return resource;
  }

  create(input: NewAction, now: number): ActionRecord {
    const resource = this.ensureResource(input.kind, input.resourceId, now, input.regionSlug);
    const id = this.nextActionId++;
    const record: ActionRecord = {
      id,
      kind: input.kind,
      resourceId: input.resourceId,
      type: input.type,
      regionSlug: input.regionSlug ?? resource.regionSlug,
      startedAtMs: input.startedAtMs,
      startedAtIso: isoSeconds(input.startedAtMs),
      endsAtMs: input.startedAtMs + input.durationMs,
      result: input.result,
      initialStatus:
        input.initialStatus === undefined
          ? undefined
          : { status: input.initialStatus.status, untilMs: input.startedAtMs + input.initialStatus.forMs },
      snapshotName: input.snapshotName,
    };
    this.actions.set(id, record);
    this.allIds.push(id);
    resource.actionIds.push(id);
    resource.unfinished.add(id);
    if (record.type === 'snapshot' && record.kind === 'droplet') this.pendingSnapshots.add(record);
    this.settle(now);
    return record;
  }

  /** Whether the resource has an action that has not ended (DigitalOcean's "pending event"). */
  hasPending(resource: ResourceRecord, now: number): boolean {
    for (const id of resource.unfinished) {
      const action = this.actions.get(id);
      if (action !== undefined && now < action.endsAtMs) return true;
      resource.unfinished.delete(id);
    }
    return false;
  }

  /** End an action now (or, if it already ended, rewrite its outcome). */
  finish(id: number, result: ActionResult, now: number): ActionRecord {
    const action = this.actions.get(id);
    if (action === undefined) throw new Error(`no action ${id}`);
    if (now < action.endsAtMs) action.endsAtMs = Math.max(now, action.startedAtMs);
    action.result = result;
    this.settle(now);
    return action;
  }

  /**
   * The resource and its actions disappear: its action ids leave every index (an O(n) filter
   * of the account-wide list, paid once per deletion rather than on every read).
   */
  deleteResource(kind: ResourceKind, id: number): void {
    const resource = this.table(kind).get(id);
    if (resource === undefined) {
      this.table(kind).set(id, {
        kind,
        id,
        regionSlug: DEFAULT_REGION_SLUG,
        createdAtMs: 0,
        deleted: true,
        actionIds: [],
        unfinished: new Set(),
        snapshotIds: [],
        image: undefined,
      });
      return;
    }
    if (resource.deleted) return;
    resource.deleted = true;
    const gone = new Set(resource.actionIds);
    for (const actionId of resource.actionIds) {
      const action = this.actions.get(actionId);
      if (action !== undefined) this.pendingSnapshots.delete(action);
      this.actions.delete(actionId);
    }
    if (gone.size > 0) this.allIds = this.allIds.filter((actionId) => !gone.has(actionId));
    resource.actionIds.length = 0;
    resource.unfinished.clear();
    const source = resource.image?.sourceDropletId;
    if (kind === 'image' && source !== undefined) {
      const droplet = this.droplets.get(source);
      const index = droplet?.snapshotIds.indexOf(id) ?? -1;
      if (droplet !== undefined && index >= 0) droplet.snapshotIds.splice(index, 1);
    }
  }

  /** Apply what ended actions leave behind. O(1) when no snapshot is running. */
  settle(now: number): void {
    if (this.pendingSnapshots.size === 0) return;
    for (const action of this.pendingSnapshots) {
      if (now < action.endsAtMs) continue;
      this.pendingSnapshots.delete(action);
      if (action.result === 'completed') this.createSnapshotImage(action, now);
    }
  }

  image(id: number): ImageRecord | undefined {
    const resource = this.resource('image', id);
    if (resource === undefined) return undefined;
    // Images known only through their actions still answer GET /v2/images/{id}.
    resource.image ??= {
      id,
      name: `image-${id}`,
      type: 'snapshot',
      regions: [resource.regionSlug],
      createdAtIso: isoSeconds(resource.createdAtMs),
      minDiskSize: 25,
      sizeGigabytes: 2.36,
      sourceDropletId: undefined,
    };
    return resource.image;
  }

  /** A resource id in neither use nor history, for background activity. */
  freshResourceId(kind: ResourceKind, start: number): number {
    const table = this.table(kind);
    let id = start;
    while (table.has(id)) id++;
    return id;
  }

  private createSnapshotImage(action: ActionRecord, now: number): void {
    const droplet = this.droplets.get(action.resourceId);
    if (droplet === undefined || droplet.deleted) return;
    let id = this.nextImageId++;
    while (this.images.has(id)) id = this.nextImageId++;
    const resource = this.ensureResource('image', id, now, action.regionSlug);
    resource.image = {
      id,
      name: action.snapshotName ?? `droplet-${action.resourceId}-${action.startedAtMs}`,
      type: 'snapshot',
      regions: [action.regionSlug],
      // DigitalOcean stamps a snapshot with the moment its action started.
      createdAtIso: action.startedAtIso,
      minDiskSize: 25,
      sizeGigabytes: 2.34,
      sourceDropletId: action.resourceId,
    };
    droplet.snapshotIds.push(id);
  }

  private table(kind: ResourceKind): Map<number, ResourceRecord> {
    return kind === 'droplet' ? this.droplets : this.images;
  }
}
