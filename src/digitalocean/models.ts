import { z } from 'zod';

/** The three statuses DigitalOcean documents. Anything else is "unknown" and never terminal. */
export const KNOWN_STATUSES = ['in-progress', 'completed', 'errored'] as const;
export type KnownStatus = (typeof KNOWN_STATUSES)[number];

/** The kinds with whole-number resource ids (the first kinds `run` could start). */
export const RESOURCE_KINDS = ['droplet', 'image'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/**
 * The kinds `run` can start actions on: POST /v2/<collection>/{id}/actions exists for each. Volumes
 * are named by UUID, reserved and floating IPs by address (see resource-ids.ts).
 */
export const RUN_KINDS = [
  'droplet',
  'image',
  'volume',
  'reserved_ip',
  'floating_ip',
  'reserved_ipv6',
] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/**
 * Every kind of action that can be watched, named as the action's `resource_type` names it, and
 * `action`: an action watched through GET /v2/actions/{id} alone, whose resource the API does not
 * name in a form we can address (a volume's, a share's, a reserved IPv6 address's action).
 */
export const WATCH_KINDS = [
  'droplet',
  'image',
  'volume',
  'reserved_ip',
  'reserved_ipv6',
  'floating_ip',
  'nfs',
  'action',
] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];

/** The `resource_type`s an action can name: every watch kind but `action`. */
export const ACTION_RESOURCE_TYPES = WATCH_KINDS.filter(
  (kind): kind is Exclude<WatchKind, 'action'> => kind !== 'action',
);
export type ActionResourceType = Exclude<WatchKind, 'action'>;

/** A droplet or image id, a volume or share UUID, an IP address, or (kind `action`) a resource type. */
export type ResourceId = number | string;

export const regionSchema = z
  .object({
    name: z.string(),
    slug: z.string(),
    sizes: z.array(z.string()),
    features: z.array(z.string()),
    available: z.boolean(),
  })
  .partial()
  .passthrough();

/**
 * The Action object of the seeds and the OpenAPI `action.yml`. Every field is optional in the
 * spec; `id` and `status` are what we cannot work without. `status` stays a free string so an
 * undocumented value (`new`, `done`) is observed rather than rejected.
 */
export const actionSchema = z
  .object({
    id: z.number().int(),
    status: z.string(),
    type: z.string().optional(),
    started_at: z.string().nullable().optional(),
    completed_at: z.string().nullable().optional(),
    // A whole number in the action object; the NFS action shape has the share's UUID here.
    resource_id: z.union([z.number().int(), z.string()]).nullable().optional(),
    resource_type: z.string().optional(),
    region: regionSchema.nullable().optional(),
    region_slug: z.string().nullable().optional(),
  })
  .passthrough();
export type Action = z.infer<typeof actionSchema>;

export const actionResponseSchema = z.object({ action: actionSchema }).passthrough();

export const pageLinksSchema = z
  .object({
    first: z.string().optional(),
    prev: z.string().optional(),
    next: z.string().optional(),
    last: z.string().optional(),
  })
  .passthrough();

export const actionListResponseSchema = z
  .object({
    actions: z.array(actionSchema),
    links: z.object({ pages: pageLinksSchema.optional() }).passthrough().optional(),
    meta: z.object({ total: z.number().int().optional() }).passthrough().optional(),
  })
  .passthrough();
export type ActionListResponse = z.infer<typeof actionListResponseSchema>;

export const errorBodySchema = z
  .object({ id: z.string(), message: z.string(), request_id: z.string().optional() })
  .passthrough();
export type ErrorBody = z.infer<typeof errorBodySchema>;

export type StatusClass = 'in-progress' | 'completed' | 'errored' | 'unknown';

/** Decide by `status` alone: `completed_at` can be null on a completed droplet action. */
export function classifyStatus(status: string): StatusClass {
  return (KNOWN_STATUSES as readonly string[]).includes(status) ? (status as KnownStatus) : 'unknown';
}

export function isResourceKind(value: string): value is ResourceKind {
  return (RESOURCE_KINDS as readonly string[]).includes(value);
}

export function isRunKind(value: unknown): value is RunKind {
  return typeof value === 'string' && (RUN_KINDS as readonly string[]).includes(value);
}

export function isWatchKind(value: string): value is WatchKind {
  return (WATCH_KINDS as readonly string[]).includes(value);
}

/** Image action types accepted by POST /v2/images/{id}/actions. */
export type ImageActionRequest = { type: 'transfer'; region: string } | { type: 'convert' };

/** Body of POST /v2/droplets/{id}/actions: a `type` plus that type's parameters. */
export type DropletActionRequest = { type: string } & Record<string, unknown>;

/** Body of POST /v2/{volumes,reserved_ips,floating_ips,reserved_ipv6}/{id}/actions: the same shape. */
export type ResourceActionRequest = DropletActionRequest;

/** An entry of GET /v2/droplets/{id}/snapshots (the spec's `droplet_snapshot`). */
export const snapshotSchema = z
  .object({
    id: z.number().int(),
    name: z.string().optional(),
    created_at: z.string(),
    regions: z.array(z.string()).optional(),
    type: z.string().optional(),
  })
  .passthrough();
export type Snapshot = z.infer<typeof snapshotSchema>;

export const snapshotListResponseSchema = z
  .object({
    snapshots: z.array(snapshotSchema),
    links: z.object({ pages: pageLinksSchema.optional() }).passthrough().optional(),
    meta: z.object({ total: z.number().int().optional() }).passthrough().optional(),
  })
  .passthrough();

/** The `image` of GET /v2/images/{id}; only what actionwatch reads is required. */
export const imageSchema = z
  .object({
    id: z.number().int(),
    name: z.string().optional(),
    type: z.string().optional(),
    regions: z.array(z.string()).optional(),
    created_at: z.string().optional(),
    status: z.string().optional(),
  })
  .passthrough();
export type Image = z.infer<typeof imageSchema>;

export const imageResponseSchema = z.object({ image: imageSchema }).passthrough();

/**
 * The `droplet` of GET /v2/droplets/{id}, the list and the create answer; only what actionwatch
 * reads is required. `status` is `new`, `active`, `off` or `archive`.
 */
export const dropletSchema = z
  .object({
    id: z.number().int().positive(),
    name: z.string().optional(),
    status: z.string().optional(),
    created_at: z.string().optional(),
    tags: z.array(z.string()).nullable().optional(),
    /** Its addresses; `v4` entries of type `public` are what a chain's `ipv4` reads. */
    networks: z
      .object({
        v4: z
          .array(z.object({ ip_address: z.string(), type: z.string().optional() }).passthrough())
          .nullable()
          .optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
  })
  .passthrough();
export type Droplet = z.infer<typeof dropletSchema>;

export const dropletResponseSchema = z.object({ droplet: dropletSchema }).passthrough();

export const dropletListResponseSchema = z
  .object({
    droplets: z.array(dropletSchema),
    links: z.object({ pages: pageLinksSchema.optional() }).passthrough().optional(),
    meta: z.object({ total: z.number().int().optional() }).passthrough().optional(),
  })
  .passthrough();

/** An entry of a create answer's `links.actions` (the spec's `action_link`). */
export const actionLinkSchema = z
  .object({ id: z.number().int().positive(), rel: z.string().optional(), href: z.string().optional() })
  .passthrough();
export type ActionLink = z.infer<typeof actionLinkSchema>;

/**
 * The 202 of POST /v2/droplets: `droplet` for a single create, `droplets` for a multi-create,
 * and one `links.actions` entry (rel `create`) per droplet.
 */
export const dropletCreateResponseSchema = z.union([
  z
    .object({
      droplet: dropletSchema,
      links: z.object({ actions: z.array(actionLinkSchema) }).passthrough(),
    })
    .passthrough(),
  z
    .object({
      droplets: z.array(dropletSchema),
      links: z.object({ actions: z.array(actionLinkSchema) }).passthrough(),
    })
    .passthrough(),
]);

/**
 * Body of POST /v2/droplets (droplet_single_create or droplet_multi_create): `name` or `names`
 * (up to ten) plus what every droplet of the request shares.
 */
export type DropletCreateRequest = ({ name: string } | { names: string[] }) & {
  region: string;
  size: string;
  image: string | number;
  ssh_keys?: Array<string | number>;
  tags?: string[];
  user_data?: string;
};
