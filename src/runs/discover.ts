import { isApiId } from '../digitalocean/action-answer.js';
import type { CallOptions, DigitalOceanClient } from '../digitalocean/client.js';
import { type Action, classifyStatus, type ResourceId, type WatchKind } from '../digitalocean/models.js';
import { ipv4Address } from '../digitalocean/resource-ids.js';
import type { WatchWebhook } from '../watches/watch.js';
import type { WatchQueue, WatchResult } from '../watches/watch-queue.js';
import type { ActionRef } from '../watches/watch-ref.js';

export interface DiscoverOptions {
  timeoutMs?: number;
  webhooks?: WatchWebhook[];
  /** Page size of the listing (DigitalOcean allows 1 to 200); default 200. */
  perPage?: number;
  signal?: AbortSignal;
  /** The token profile `client` uses: the watches go to its queue. Undefined: DIGITALOCEAN_TOKEN. */
  tokenProfile?: string;
}

/** Whether an action may still change: anything but completed or errored (`new` included). */
export function isUnfinished(action: Action): boolean {
  const status = classifyStatus(action.status);
  return status !== 'completed' && status !== 'errored';
}

/**
 * The watch of an action as GET /v2/actions/{id} describes it, its kind learned from
 * `resource_type`: a droplet's or image's action by its `resource_id`, a reserved or floating IP's
 * by the address its 32-bit `resource_id` is. Any other action (a volume's or share's, whose
 * `resource_id` is null, a reserved IPv6 address's, whose number names no address, or one of a
 * type we do not know) is watched as kind `action`, through GET /v2/actions/{id} alone.
 */
export function refOfAction(action: Action): ActionRef {
  const type = action.resource_type;
  const resourceId: unknown = action.resource_id;
  if ((type === 'droplet' || type === 'image') && isApiId(resourceId))
    return { kind: type, resourceId, actionId: action.id };
  if ((type === 'reserved_ip' || type === 'floating_ip') && typeof resourceId === 'number') {
    const address = ipv4Address(resourceId);
    if (address !== undefined) return { kind: type, resourceId: address, actionId: action.id };
  }
  return { kind: 'action', resourceId: null, actionId: action.id };
}

/** Looks the action up once (GET /v2/actions/{id}) and names its watch (see refOfAction). */
export async function resolveAction(
  client: DigitalOceanClient,
  actionId: number,
  options?: CallOptions,
): Promise<ActionRef> {
  return refOfAction(await client.getAction(actionId, options));
}

/**
 * Lists every action of a resource DigitalOcean lists per resource (droplet, image, volume,
 * reserved or floating IP), through every page, and watches (or joins the watch
 * of) each one that has not ended. All watches are enqueued in one atomic bulk.
 */
export async function watchUnfinishedActions(
  client: DigitalOceanClient,
  watches: WatchQueue,
  kind: WatchKind,
  resourceId: ResourceId,
  options: DiscoverOptions = {},
): Promise<WatchResult[]> {
  const unfinished: Action[] = [];
  for await (const action of client.iterateResourceActions(kind, resourceId, {
    ...(options.perPage === undefined ? {} : { perPage: options.perPage }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  })) {
    if (isUnfinished(action)) unfinished.push(action);
  }
  if (unfinished.length === 0) return [];
  return watches.watchMany(
    unfinished.map((action) => ({
      kind,
      resourceId,
      actionId: action.id,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.webhooks === undefined ? {} : { webhooks: options.webhooks }),
      ...(options.tokenProfile === undefined ? {} : { tokenProfile: options.tokenProfile }),
    })),
  );
}
