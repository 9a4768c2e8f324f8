import type { ResourceKind } from '../digitalocean/models.js';
import type { ActionKind, ResourceId } from './action-kinds.js';
import type { ListOrder } from './pagination.js';
import type { RateLimitConfig } from './rate-limiter.js';

export interface SimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Accepted bearer tokens; default `['sim-token']`. */
  tokens?: string[];
  /** Per-token sliding windows; default 250/minute and 5000/hour; `false` never refuses. */
  rateLimit?: RateLimitConfig | false;
  /** Order of every list; default `oldest-first`. */
  listOrder?: ListOrder;
  /** Quirk seen in the wild: the droplet-scoped GET shows `completed_at: null` on completed actions. */
  completedAtNullOnDropletGet?: boolean;
  /** Keep creating actions on other resources so list pages shift under a paging client. */
  background?: BackgroundOptions;
  /** Clock in ms; inject a fake one to drive action lifecycles and rate windows in tests. */
  now?: () => number;
  /** How long an action runs when no duration is given; default 5000 ms. */
  defaultDurationMs?: number;
  /** Durations by action type for actions created over HTTP (e.g. `{ snapshot: 30000 }`). */
  durationsByType?: Record<string, number>;
  /** Fastify request logging to stderr; default false. */
  logger?: boolean;
  /** First action id; default 100000000. Ids increase by one across both kinds. */
  firstActionId?: number;
  /** First id for images the simulator makes (snapshots); default 150000000. */
  firstImageId?: number;
  /** First id for droplets created by POST /v2/droplets; default 400000000. */
  firstDropletId?: number;
  /**
   * How long a deleted droplet, volume, address or share still answers GET after its DELETE
   * was accepted (204); default 0: 404 from the next request on.
   */
  deleteDelayMs?: number;
}

export interface BackgroundOptions {
  actionsPerSecond: number;
  /** Which kinds of resources get background actions; default both. */
  kinds?: ResourceKind[];
}

export interface CreateActionInput {
  kind: ActionKind;
  /**
   * A positive integer for droplets and images, a UUID for volumes and NFS shares, the address
   * for reserved (IPv4 or IPv6) and floating IPs.
   */
  resourceId: ResourceId;
  /**
   * Default `reboot` for droplets, `transfer` for images, `attach_volume` for volumes,
   * `assign_ip` for addresses, `RESIZE_SHARE` for NFS shares.
   */
  type?: string;
  /** Default `defaultDurationMs`. */
  durationMs?: number;
  /** How the action ends; default `completed`. */
  result?: 'completed' | 'errored';
  /** Region slug; default the resource's region (nyc3 for a resource first seen here). */
  region?: string;
  /** Start time in ms; default now. */
  startedAt?: number;
  /** Show an undocumented status (e.g. `new`) for the first `forMs` ms. */
  initialStatus?: { status: string; forMs: number };
  /** Name of the image a `snapshot` action leaves behind. */
  snapshotName?: string;
}
