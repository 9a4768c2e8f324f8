import type { ActionRecord, ActionStore, ResourceRecord } from './action-store.js';
import { REGION_SLUGS, regionBySlug } from './regions.js';
import type { ResourceLifecycle } from './resource-lifecycle.js';
import { actionStatus } from './views.js';

/**
 * The resource objects of the deploy routes, keys in DigitalOcean's order, shaped after the
 * spec's `droplet`, `volume_full`, `reserved_ip` / `floating_ip`, `reserved_ipv6`,
 * `nfs_response` and `nfs_action` schemas and their examples.
 */

/** Memory and cores as the slug says them (`s-2vcpu-4gb` → 2 vCPUs, 4096 MB); 1 and 1024 otherwise. */
function sizeOf(slug: string): Record<string, unknown> {
  const vcpus = Number(/(\d+)vcpu/.exec(slug)?.[1] ?? 1);
  const gigabytes = Number(/(\d+)gb/.exec(slug)?.[1] ?? 1);
  const disk = Math.max(25, gigabytes * 25);
  const priceMonthly = gigabytes * 6;
  return {
    slug,
    memory: gigabytes * 1024,
    vcpus,
    disk,
    transfer: gigabytes,
    price_monthly: priceMonthly,
    price_hourly: Math.round((priceMonthly / 672) * 1e6) / 1e6,
    regions: REGION_SLUGS.filter((region) => regionBySlug(region)?.available === true),
    available: true,
    description: 'Basic',
  };
}

function imageOf(image: string | number): Record<string, unknown> {
  const byId = typeof image === 'number';
  return {
    id: byId ? image : 191457505,
    name: byId ? `image-${image}` : image,
    distribution: 'Ubuntu',
    slug: byId ? null : image,
    public: !byId,
    regions: REGION_SLUGS.filter((region) => regionBySlug(region)?.available === true),
    created_at: '2024-04-23T18:39:26Z',
    type: byId ? 'snapshot' : 'base',
    min_disk_size: 7,
    size_gigabytes: 1.63,
    description: '',
    tags: [],
    status: 'available',
    error_message: '',
  };
}

/** A public address that stays the same for a droplet id (and a private one beside it). */
function dropletAddresses(id: number): Array<Record<string, unknown>> {
  const n = id % 2 ** 24;
  const [a, b, c] = [Math.floor(n / 65536), Math.floor(n / 256) % 256, n % 256];
  return [
    { ip_address: `10.${a}.${b}.${c}`, netmask: '255.255.0.0', gateway: `10.${a}.0.1`, type: 'private' },
    {
      ip_address: `164.${a}.${b}.${c}`,
      netmask: '255.255.240.0',
      gateway: `164.${a}.${b}.1`,
      type: 'public',
    },
  ];
}

/**
 * `new` while its create action runs, `active` once it completed (with its addresses in
 * `networks.v4`), `off` if it errored. A droplet known only through its actions is active.
 */
export function dropletStatus(
  lifecycle: ResourceLifecycle,
  store: ActionStore,
  resource: ResourceRecord,
  now: number,
): string {
  const createId = lifecycle.dropletOf(resource).createActionId;
  const create = createId === undefined ? undefined : store.get(createId);
  if (create === undefined) return 'active';
  const status = actionStatus(create, now);
  return status === 'completed' ? 'active' : status === 'errored' ? 'off' : 'new';
}

export function dropletView(
  lifecycle: ResourceLifecycle,
  store: ActionStore,
  resource: ResourceRecord,
  now: number,
): Record<string, unknown> {
  const droplet = lifecycle.dropletOf(resource);
  const size = sizeOf(droplet.sizeSlug);
  const status = dropletStatus(lifecycle, store, resource, now);
  return {
    id: resource.id,
    name: droplet.name,
    memory: size.memory,
    vcpus: size.vcpus,
    disk: size.disk,
    disk_info: [{ type: 'local', size: { amount: size.disk, unit: 'gib' } }],
    locked: false,
    status,
    kernel: null,
    created_at: droplet.createdAtIso,
    features: ['droplet_agent', 'private_networking'],
    backup_ids: [],
    next_backup_window: null,
    snapshot_ids: resource.snapshotIds,
    image: imageOf(droplet.image),
    volume_ids: droplet.volumeIds,
    size,
    size_slug: droplet.sizeSlug,
    networks: { v4: status === 'active' ? dropletAddresses(resource.id as number) : [], v6: [] },
    region: regionBySlug(resource.regionSlug),
    tags: droplet.tags,
    vpc_uuid: '760e09ef-dc84-11e8-981e-3cfdfeaae000',
  };
}

export function volumeView(lifecycle: ResourceLifecycle, resource: ResourceRecord): Record<string, unknown> {
  const volume = lifecycle.volumeOf(resource);
  return {
    id: resource.id,
    region: regionBySlug(resource.regionSlug),
    droplet_ids: volume.dropletIds,
    name: volume.name,
    description: volume.description,
    size_gigabytes: volume.sizeGigabytes,
    created_at: volume.createdAtIso,
    filesystem_type: volume.filesystemType,
    filesystem_label: volume.filesystemLabel,
    tags: volume.tags,
  };
}

/** The `reserved_ip` / `floating_ip` object: `locked` while one of its actions runs. */
export function ipv4View(
  lifecycle: ResourceLifecycle,
  store: ActionStore,
  resource: ResourceRecord,
  now: number,
): Record<string, unknown> {
  const address = lifecycle.addressOf(resource);
  return {
    ip: resource.id,
    droplet: assignedDroplet(lifecycle, store, address.dropletId, now),
    region: regionBySlug(resource.regionSlug),
    locked: store.hasPending(resource, now),
    project_id: address.projectId,
  };
}

export function ipv6View(
  lifecycle: ResourceLifecycle,
  store: ActionStore,
  resource: ResourceRecord,
  now: number,
): Record<string, unknown> {
  const address = lifecycle.addressOf(resource);
  return {
    ip: resource.id,
    region_slug: resource.regionSlug,
    reserved_at: address.createdAtIso,
    droplet: assignedDroplet(lifecycle, store, address.dropletId, now),
  };
}

function assignedDroplet(
  lifecycle: ResourceLifecycle,
  store: ActionStore,
  dropletId: number | null,
  now: number,
): Record<string, unknown> | null {
  const droplet = dropletId === null ? undefined : store.resource('droplet', dropletId);
  return droplet === undefined ? null : dropletView(lifecycle, store, droplet, now);
}

export function shareView(
  lifecycle: ResourceLifecycle,
  resource: ResourceRecord,
  now: number,
): Record<string, unknown> {
  const share = lifecycle.shareOf(resource);
  return {
    id: resource.id,
    name: share.name,
    size_gib: share.sizeGib,
    region: resource.regionSlug,
    status: now < share.activeAtMs ? 'CREATING' : 'ACTIVE',
    created_at: share.createdAtIso,
    vpc_ids: share.vpcIds,
    ...(share.performanceTier === undefined ? {} : { performance_tier: share.performanceTier }),
  };
}

const SHARE_STATUS: Record<string, string> = {
  'in-progress': 'IN_PROGRESS',
  completed: 'COMPLETED',
  errored: 'ACTION_FAILED',
};

/**
 * The answer of POST /v2/nfs/{id}/actions, in the spec's own NFS action shape. Its `id` is the
 * simulator's action id as a string, so the same action can be looked up in /v2/actions.
 */
export function shareActionView(action: ActionRecord, now: number): Record<string, unknown> {
  return {
    id: String(action.id),
    region_slug: action.regionSlug,
    resource_id: action.resourceId,
    resource_type: 'SHARE',
    started_at: action.startedAtIso,
    status: SHARE_STATUS[actionStatus(action, now)] ?? 'IN_PROGRESS',
    type: action.type,
  };
}

/** An entry of `links.actions` (the spec's `action_link`). */
export function actionLink(baseUrl: string, action: ActionRecord, rel: string): Record<string, unknown> {
  return { id: action.id, rel, href: `${baseUrl}/v2/actions/${action.id}` };
}
