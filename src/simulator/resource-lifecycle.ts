import type { ActionKind, ResourceId } from './action-kinds.js';
import type { ActionRecord, ResourceRecord } from './action-store.js';
import type {
  AddressAction as AddressActionRequest,
  AddressCreate,
  DropletCreate,
  ShareAction,
  ShareCreate,
  VolumeActionRequest,
  VolumeCreate,
} from './deploy-requests.js';
import type { AddressRecord, DropletRecord, ShareRecord, VolumeRecord } from './resource-records.js';
import type { SimulatorState } from './simulator-state.js';
import { isoSeconds } from './time.js';

/**
 * The resources of a deploy and what their actions do: droplets created with a `create`
 * action, volumes attached, detached and resized, reserved/floating IPs (IPv4 and IPv6)
 * assigned and unassigned, NFS shares resized and attached. Each change lands when its action
 * completes (an errored action changes nothing), through the store's settle().
 *
 * New ids: droplets count up from `firstDropletId`; volumes and shares get UUIDs and
 * addresses come from documentation-style ranges, numbered in creation order so a run with
 * a fake clock is the same every time.
 */

const IPV4_POOL_START = 45 * 2 ** 24 + 55 * 2 ** 16 + 96 * 2 ** 8 + 1; // 45.55.96.1
const IPV6_PREFIX = '2409:40d0:f7:1017::';
const VOLUME_UUID_PREFIX = '506f78a4-e098-11e5-ad9f-';
const SHARE_UUID_PREFIX = '0a1b2c3d-4e5f-4a6b-8c7d-';
const DEFAULT_PROJECT_ID = '746c6152-2fa2-11ed-92d3-27aaa54e4988';

function uuidFrom(prefix: string, n: number): string {
  return `${prefix}${n.toString(16).padStart(12, '0')}`;
}

function ipv4From(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export class ResourceLifecycle {
  private nextDroplet: number;
  private nextVolume = 1;
  private nextIpv4 = IPV4_POOL_START;
  private nextIpv6 = 1;
  private nextShare = 1;

  constructor(private readonly state: SimulatorState) {
    this.nextDroplet = state.firstDropletId;
  }

  private get store() {
    return this.state.store;
  }

  /** POST /v2/droplets: one droplet and one `create` action per name. */
  createDroplets(request: DropletCreate): Array<{ droplet: ResourceRecord; action: ActionRecord }> {
    const now = this.state.now();
    return request.names.map((name) => {
      const id = this.store.freshResourceId('droplet', this.nextDroplet);
      this.nextDroplet = id + 1;
      const resource = this.store.ensureResource('droplet', id, now, request.region);
      const action = this.state.createAction({ kind: 'droplet', resourceId: id, type: 'create' });
      resource.droplet = {
        name,
        sizeSlug: request.size,
        image: request.image,
        tags: request.tags,
        createdAtIso: isoSeconds(now),
        createActionId: action.id,
        volumeIds: [],
      };
      return { droplet: resource, action };
    });
  }

  /** DELETE of any kind: 204 now, 404 once `deleteDelayMs` has passed. */
  scheduleDeletion(resource: ResourceRecord): void {
    const now = this.state.now();
    this.store.scheduleDeletion(resource, now + this.state.deleteDelayMs, now);
  }

  dropletOf(resource: ResourceRecord): DropletRecord {
    resource.droplet ??= {
      name: `droplet-${resource.id}`,
      sizeSlug: 's-1vcpu-1gb',
      image: 'ubuntu-24-04-x64',
      tags: [],
      createdAtIso: isoSeconds(resource.createdAtMs),
      createActionId: undefined,
      volumeIds: [],
    };
    return resource.droplet;
  }

  createVolume(request: VolumeCreate): ResourceRecord {
    const now = this.state.now();
    const id = this.freshId('volume', () => uuidFrom(VOLUME_UUID_PREFIX, this.nextVolume++));
    const resource = this.store.ensureResource('volume', id, now, request.region);
    resource.volume = {
      name: request.name,
      description: request.description,
      sizeGigabytes: request.sizeGigabytes,
      filesystemType: request.filesystemType,
      filesystemLabel: request.filesystemLabel,
      tags: request.tags,
      createdAtIso: isoSeconds(now),
      dropletIds: [],
    };
    return resource;
  }

  volumeOf(resource: ResourceRecord): VolumeRecord {
    resource.volume ??= {
      name: `volume-${String(resource.id).slice(0, 8)}`,
      description: '',
      sizeGigabytes: 10,
      filesystemType: 'ext4',
      filesystemLabel: '',
      tags: [],
      createdAtIso: isoSeconds(resource.createdAtMs),
      dropletIds: [],
    };
    return resource.volume;
  }

  /** The volume POST /v2/volumes/actions names: by name, in `region` when given. */
  volumeNamed(name: string, region: string | undefined): ResourceRecord | undefined {
    return this.store
      .resources('volume')
      .find(
        (resource) =>
          resource.goneAtMs === undefined &&
          this.volumeOf(resource).name === name &&
          (region === undefined || resource.regionSlug === region),
      );
  }

  startVolumeAction(resource: ResourceRecord, request: VolumeActionRequest): ActionRecord {
    const volume = this.volumeOf(resource);
    return this.state.createAction(
      { kind: 'volume', resourceId: resource.id, type: `${request.type}_volume` },
      (now) => {
        if (request.type === 'resize') {
          volume.sizeGigabytes = request.sizeGigabytes;
          return;
        }
        const droplet = this.liveDroplet(request.dropletId, now, resource.regionSlug);
        if (request.type === 'attach') {
          if (!volume.dropletIds.includes(request.dropletId)) volume.dropletIds.push(request.dropletId);
          if (droplet !== undefined && !droplet.volumeIds.includes(resource.id as string)) {
            droplet.volumeIds.push(resource.id as string);
          }
        } else {
          remove(volume.dropletIds, request.dropletId);
          if (droplet !== undefined) remove(droplet.volumeIds, resource.id as string);
        }
      },
    );
  }

  /**
   * POST /v2/reserved_ips and /v2/floating_ips: an address reserved in a region, or one given to
   * a droplet at once (with its `assign_ip` action, whose completion assigns it).
   */
  reserveIpv4(
    kind: 'reserved_ip' | 'floating_ip',
    create: AddressCreate,
  ): { resource: ResourceRecord; action: ActionRecord | undefined } {
    const now = this.state.now();
    const id = this.freshId(kind, () => ipv4From(this.nextIpv4++));
    // Given to a droplet at once, the address is in the droplet's region.
    const region =
      'region' in create ? create.region : this.store.resource('droplet', create.dropletId)?.regionSlug;
    const resource = this.store.ensureResource(kind, id, now, region);
    resource.address = {
      createdAtIso: isoSeconds(now),
      dropletId: null,
      projectId: ('projectId' in create ? create.projectId : undefined) ?? DEFAULT_PROJECT_ID,
    };
    const action =
      'dropletId' in create
        ? this.startAddressAction(kind, resource, { type: 'assign', dropletId: create.dropletId })
        : undefined;
    return { resource, action };
  }

  reserveIpv6(region: string): ResourceRecord {
    const now = this.state.now();
    const id = this.freshId('reserved_ipv6', () => `${IPV6_PREFIX}${(this.nextIpv6++).toString(16)}`);
    const resource = this.store.ensureResource('reserved_ipv6', id, now, region);
    resource.address = { createdAtIso: isoSeconds(now), dropletId: null, projectId: DEFAULT_PROJECT_ID };
    return resource;
  }

  /** The first id `next` gives that no resource of `kind` has, alive or deleted. */
  private freshId(kind: ActionKind, next: () => string): string {
    let id = next();
    while (this.store.resource(kind, id) !== undefined || this.store.isDeleted(kind, id)) id = next();
    return id;
  }

  addressOf(resource: ResourceRecord): AddressRecord {
    resource.address ??= {
      createdAtIso: isoSeconds(resource.createdAtMs),
      dropletId: null,
      projectId: DEFAULT_PROJECT_ID,
    };
    return resource.address;
  }

  startAddressAction(
    kind: ActionKind,
    resource: ResourceRecord,
    request: AddressActionRequest,
  ): ActionRecord {
    const address = this.addressOf(resource);
    return this.state.createAction({ kind, resourceId: resource.id, type: `${request.type}_ip` }, () => {
      address.dropletId = request.type === 'assign' ? request.dropletId : null;
    });
  }

  createShare(request: ShareCreate): ResourceRecord {
    const now = this.state.now();
    const id = this.freshId('nfs', () => uuidFrom(SHARE_UUID_PREFIX, this.nextShare++));
    const resource = this.store.ensureResource('nfs', id, now, request.region);
    resource.share = {
      name: request.name,
      sizeGib: request.sizeGib,
      vpcIds: [...request.vpcIds],
      performanceTier: request.performanceTier,
      createdAtMs: now,
      createdAtIso: isoSeconds(now),
      activeAtMs: now + this.state.durationFor('create_share'),
    };
    return resource;
  }

  shareOf(resource: ResourceRecord): ShareRecord {
    resource.share ??= {
      name: `share-${String(resource.id).slice(0, 8)}`,
      sizeGib: 50,
      vpcIds: [],
      performanceTier: undefined,
      createdAtMs: resource.createdAtMs,
      createdAtIso: isoSeconds(resource.createdAtMs),
      activeAtMs: resource.createdAtMs,
    };
    return resource.share;
  }

  /** Types as the NFS action answer spells them: `RESIZE_SHARE`, `ATTACH_SHARE`, … */
  startShareAction(resource: ResourceRecord, request: ShareAction): ActionRecord {
    const share = this.shareOf(resource);
    return this.state.createAction(
      { kind: 'nfs', resourceId: resource.id, type: `${request.type.toUpperCase()}_SHARE` },
      () => {
        if (request.type === 'resize') share.sizeGib = request.sizeGib;
        else if (request.type === 'attach' && !share.vpcIds.includes(request.vpcId))
          share.vpcIds.push(request.vpcId);
        else if (request.type === 'detach') remove(share.vpcIds, request.vpcId);
      },
    );
  }

  /** A droplet's details, making it exist (as its first action would) unless it was deleted. */
  private liveDroplet(id: ResourceId, now: number, region: string): DropletRecord | undefined {
    if (this.store.isDeleted('droplet', id)) return undefined;
    return this.dropletOf(this.store.ensureResource('droplet', id, now, region));
  }
}

function remove<T>(items: T[], item: T): void {
  const index = items.indexOf(item);
  if (index >= 0) items.splice(index, 1);
}
