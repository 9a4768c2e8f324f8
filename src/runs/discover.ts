import type { DigitalOceanClient } from '../digitalocean/client.js';
import { type Action, classifyStatus, type ResourceKind } from '../digitalocean/models.js';
import type { WatchWebhook } from '../watches/watch.js';
import type { WatchQueue, WatchResult } from '../watches/watch-queue.js';

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
 * Lists every action of a droplet or image, through every page, and watches (or joins the watch
 * of) each one that has not ended. All watches are enqueued in one atomic bulk.
 */
export async function watchUnfinishedActions(
  client: DigitalOceanClient,
  watches: WatchQueue,
  kind: ResourceKind,
  resourceId: number,
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
