import { type ActionKind, ipv4Number, type ResourceId, type ResourceTable, tableOf } from './action-kinds.js';
import { DEFAULT_REGION_SLUG } from './regions.js';
import type { AddressRecord, DropletRecord, ShareRecord, VolumeRecord } from './resource-records.js';
import { isoSeconds } from './time.js';

/**
 * All simulated state: actions, the resources they belong to (droplets, images, volumes,
 * reserved IPs, NFS shares), and what completed actions leave behind. Every single-item lookup is a Map
 * hit; lists are slices of arrays kept in id order, so 10,000+ actions stay cheap to serve.
 *
 * Status is derived from the clock on every read rather than flipped by timers, so a fake
 * `now()` moves actions along without anything having to run. What an action leaves behind when
 * it ends (a snapshot image, a volume attached, an address assigned) and deletions that take
 * effect later are applied by `settle()`, which the server calls before answering each request.
 */

export type ActionResult = 'completed' | 'errored';

export interface ActionRecord {
  readonly id: number;
  readonly kind: ActionKind;
  readonly resourceId: ResourceId;
  /** What `resource_id` shows (see action-kinds.ts). */
  readonly viewResourceId: number | null;
  readonly resource: ResourceRecord;
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
  /** The kind it was first seen as; reserved and floating IPs share a table. */
  readonly kind: ActionKind;
  readonly id: ResourceId;
  /** What its actions' `resource_id` shows. */
  readonly viewId: number | null;
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
  /** Details of the other kinds, made on first need (resources seen only through actions get defaults). */
  droplet?: DropletRecord;
  volume?: VolumeRecord;
  address?: AddressRecord;
  share?: ShareRecord;
  /** A DELETE was accepted: GETs answer 404 from this time on. */
  goneAtMs?: number;
}

/** What an action changes when it completes (nothing when it errors). */
export type ActionEffect = (now: number) => void;

export interface NewAction {
  kind: ActionKind;
  resourceId: ResourceId;
  type: string;
  durationMs: number;
  result: ActionResult;
  regionSlug: string | undefined;
  startedAtMs: number;
  initialStatus: { status: string; forMs: number } | undefined;
  snapshotName: string | undefined;
  effect?: ActionEffect;
}

export interface ActionStoreOptions {
  firstActionId: number;
  firstImageId: number;
}

export class ActionStore {
  private readonly actions = new Map<number, ActionRecord>();
  /** Every live action id, ascending (= creation order). */
  private allIds: number[] = [];
  private readonly tables: Record<ResourceTable, Map<ResourceId, ResourceRecord>> = {
    droplet: new Map(),
    image: new Map(),
    volume: new Map(),
    ipv4: new Map(),
    ipv6: new Map(),
    nfs: new Map(),
  };
  /** Snapshot actions whose image has not been made yet. */
  private readonly pendingSnapshots = new Set<ActionRecord>();
  /** Actions whose effect has not been applied yet. */
  private readonly pendingEffects = new Map<ActionRecord, ActionEffect>();
  /** Resources a DELETE will remove. */
  private readonly pendingDeletions = new Set<ResourceRecord>();
  private nextActionId: number;
  private nextIpv6Number = 1;
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
  resource(kind: ActionKind, id: ResourceId): ResourceRecord | undefined {
    const resource = this.table(kind).get(id);
    return resource === undefined || resource.deleted ? undefined : resource;
  }

  isDeleted(kind: ActionKind, id: ResourceId): boolean {
    return this.table(kind).get(id)?.deleted === true;
  }

  /** Every live resource of a kind's table, in the order they were first seen. */
  resources(kind: ActionKind): ResourceRecord[] {
    return [...this.table(kind).values()].filter((resource) => !resource.deleted);
  }

  /** Make a resource exist (resources otherwise appear with their first action). */
  ensureResource(kind: ActionKind, id: ResourceId, now: number, regionSlug?: string): ResourceRecord {
    const table = this.table(kind);
    const existing = table.get(id);
    if (existing !== undefined) {
      if (existing.deleted) throw new Error(`${kind} ${id} was deleted`);
      return existing;
    }
    const resource: ResourceRecord = {
      kind,
      id,
      viewId: this.viewIdOf(kind, id),
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
      viewResourceId: resource.viewId,
      resource,
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
    if (input.effect !== undefined) this.pendingEffects.set(record, input.effect);
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
  deleteResource(kind: ActionKind, id: ResourceId): void {
    const resource = this.table(kind).get(id);
    if (resource === undefined) {
      this.table(kind).set(id, {
        kind,
        id,
        viewId: null,
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
    this.pendingDeletions.delete(resource);
    const gone = new Set(resource.actionIds);
    for (const actionId of resource.actionIds) {
      const action = this.actions.get(actionId);
      if (action !== undefined) {
        this.pendingSnapshots.delete(action);
        this.pendingEffects.delete(action);
      }
      this.actions.delete(actionId);
    }
    if (gone.size > 0) this.allIds = this.allIds.filter((actionId) => !gone.has(actionId));
    resource.actionIds.length = 0;
    resource.unfinished.clear();
    const source = resource.image?.sourceDropletId;
    if (kind === 'image' && source !== undefined && typeof id === 'number') {
      const droplet = this.tables.droplet.get(source);
      const index = droplet?.snapshotIds.indexOf(id) ?? -1;
      if (droplet !== undefined && index >= 0) droplet.snapshotIds.splice(index, 1);
    }
  }

  /** The resource goes at `goneAtMs` (now or later), with its actions, as `deleteResource` does. */
  scheduleDeletion(resource: ResourceRecord, goneAtMs: number, now: number): void {
    if (resource.deleted || resource.goneAtMs !== undefined) return;
    resource.goneAtMs = goneAtMs;
    this.pendingDeletions.add(resource);
    this.settle(now);
  }

  /**
   * Apply what ended actions leave behind, and deletions that are due. O(1) when nothing is
   * pending.
   */
  settle(now: number): void {
    if (this.pendingSnapshots.size > 0) {
      for (const action of this.pendingSnapshots) {
        if (now < action.endsAtMs) continue;
        this.pendingSnapshots.delete(action);
        if (action.result === 'completed') this.createSnapshotImage(action, now);
      }
    }
    if (this.pendingEffects.size > 0) {
      for (const [action, effect] of this.pendingEffects) {
        if (now < action.endsAtMs) continue;
        this.pendingEffects.delete(action);
        if (action.result === 'completed') effect(now);
      }
    }
    if (this.pendingDeletions.size > 0) {
      for (const resource of this.pendingDeletions) {
        if (now >= (resource.goneAtMs ?? now)) this.deleteResource(resource.kind, resource.id);
      }
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

  /** A resource id in neither use nor history, for background activity and created droplets. */
  freshResourceId(kind: ActionKind, start: number): number {
    const table = this.table(kind);
    let id = start;
    while (table.has(id)) id++;
    return id;
  }

  private createSnapshotImage(action: ActionRecord, now: number): void {
    const droplet = this.tables.droplet.get(action.resourceId);
    if (droplet === undefined || droplet.deleted) return;
    let id = this.nextImageId++;
    while (this.tables.image.has(id)) id = this.nextImageId++;
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
      sourceDropletId: droplet.id as number,
    };
    droplet.snapshotIds.push(id);
  }

  private viewIdOf(kind: ActionKind, id: ResourceId): number | null {
    if (typeof id === 'number') return id;
    const table = tableOf(kind);
    if (table === 'ipv4') return ipv4Number(id);
    if (table === 'ipv6') return this.nextIpv6Number++;
    return null;
  }

  private table(kind: ActionKind): Map<ResourceId, ResourceRecord> {
    return this.tables[tableOf(kind)];
  }
}
