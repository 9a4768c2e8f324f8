import { InputError } from '../errors/input-error.js';
import type { Outcome } from '../watches/watch.js';
import type { WatchRequest } from '../watches/watch-queue.js';
import { batchRejected, normaliseWatch, type TargetCheck } from '../watches/watch-request.js';

export type { TargetCheck };

/** A watch as the schema lets it through: right shape, meaning not yet checked. */
export interface WatchBody {
  kind: string;
  resourceId: number | string;
  actionId: number | string;
  timeout?: string;
  webhooks?: Array<{ url: string; on?: Outcome[] }>;
  tokenProfile?: string;
}

/**
 * Turns one schema-valid body into a WatchRequest with the normaliser the CLI and the library use.
 * `field` is where the watch sits in the request (`watches[3].`), so every message names the exact
 * field.
 */
export function toWatchRequest(body: WatchBody, checkTarget: TargetCheck, field = ''): Promise<WatchRequest> {
  return normaliseWatch(body, { checkTarget, field });
}

/** Every body checked before anything is enqueued; any bad one rejects the whole batch. */
export async function toWatchRequests(
  bodies: WatchBody[],
  checkTarget: TargetCheck,
): Promise<WatchRequest[]> {
  const settled = await Promise.allSettled(
    bodies.map((body, index) => toWatchRequest(body, checkTarget, `watches[${index}].`)),
  );
  const problems: string[] = [];
  const requests: WatchRequest[] = [];
  for (const result of settled) {
    if (result.status === 'fulfilled') requests.push(result.value);
    else if (result.reason instanceof InputError) problems.push(result.reason.message);
    else throw result.reason;
  }
  if (problems.length > 0) throw batchRejected(problems);
  return requests;
}
