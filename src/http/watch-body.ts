import { InputError } from '../errors/input-error.js';
import { assertTargetAllowed } from '../notifications/webhooks/address-guard.js';
import { validateTargetUrl } from '../notifications/webhooks/target-url.js';
import type { Outcome, WatchWebhook } from '../watches/watch.js';
import type { WatchRequest } from '../watches/watch-queue.js';
import { parseActionRef, parseTokenProfile } from '../watches/watch-ref.js';
import { parseTimeout } from '../watches/watch-request.js';

/** A watch as the schema lets it through: right shape, meaning not yet checked. */
export interface WatchBody {
  kind: string;
  resourceId: number | string;
  actionId: number | string;
  timeout?: string;
  webhooks?: Array<{ url: string; on?: Outcome[] }>;
  tokenProfile?: string;
}

/** Checks a webhook target and returns it normalised; throws InputError when it may not be used. */
export type TargetCheck = (url: string) => string | Promise<string>;

async function naming<T>(prefix: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InputError && prefix !== '') throw new InputError(`${prefix}${error.message}`);
    throw error;
  }
}

/**
 * Turns one schema-valid body into a WatchRequest with the parsers the CLI uses. `field` is where
 * the watch sits in the request (`watches[3].`), so every message names the exact field.
 */
export async function toWatchRequest(
  body: WatchBody,
  checkTarget: TargetCheck,
  field = '',
): Promise<WatchRequest> {
  const ref = await naming(field, () => parseActionRef(body.kind, body.resourceId, body.actionId));
  const timeoutMs = await naming(field, () => parseTimeout(body.timeout));
  // Only the name is checked: the token lives on the workers, and this server need not have it.
  const tokenProfile =
    body.tokenProfile === undefined
      ? undefined
      : await naming(`${field}tokenProfile: `, () => parseTokenProfile(body.tokenProfile));
  const webhooks: WatchWebhook[] = [];
  for (const [index, webhook] of (body.webhooks ?? []).entries()) {
    const url = await naming(`${field}webhooks[${index}].url: `, () => checkTarget(webhook.url));
    webhooks.push({ url, ...(webhook.on === undefined ? {} : { on: webhook.on }) });
  }
  return {
    ...ref,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(webhooks.length === 0 ? {} : { webhooks }),
    ...(tokenProfile === undefined ? {} : { tokenProfile }),
  };
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
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    throw new InputError(`${problems.slice(0, 3).join('; ')}${more}; nothing was enqueued`);
  }
  return requests;
}

/**
 * The check a per-watch webhook URL passes at enqueue: well-formed (validateTargetUrl), and not
 * resolving to a private or loopback address unless WEBHOOK_ALLOW_PRIVATE (the address guard).
 */
export function deliverableTarget(allowPrivate: boolean): TargetCheck {
  return async (url) => {
    const normalised = validateTargetUrl(url);
    await assertTargetAllowed(normalised, { allowPrivate });
    return normalised;
  };
}
