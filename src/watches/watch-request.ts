import { parseDuration } from '../config/duration.js';
import { InputError } from '../errors/input-error.js';
import { isOutcome, OUTCOMES, type Outcome, type WatchWebhook } from './watch.js';
import type { WatchRequest, WatchRequestSettings } from './watch-queue.js';
import { parseActionRef, parseTokenProfile } from './watch-ref.js';

/** A watch's `timeout` as a person writes it (`30m`, `6h`, `1h30m`), in ms; shared by the CLI and the API. */
export function parseTimeout(text: string | undefined, name = 'timeout'): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(String(text));
  if (ms === undefined || ms <= 0)
    throw new InputError(
      `${name} must be a positive duration such as 30m or 6h (got ${JSON.stringify(text)})`,
    );
  return ms;
}

/** A duration as text (`90s`, `30m`) or as a number of ms; undefined stays undefined. */
export function parseTimeoutOrMs(value: string | number | undefined, name = 'timeout'): number | undefined {
  if (typeof value !== 'number') return parseTimeout(value, name);
  if (!Number.isFinite(value) || value <= 0)
    throw new InputError(`${name} must be a positive number of ms (got ${value})`);
  return value;
}

/**
 * Runs `parse` and puts `prefix` (where the value sits, as in `watches[3].tokenProfile: `) before
 * the message of any InputError it throws, whether it throws or rejects.
 */
export function naming<T>(prefix: string, parse: () => T): T {
  const rename = (error: unknown): never => {
    if (error instanceof InputError && prefix !== '') throw new InputError(`${prefix}${error.message}`);
    throw error;
  };
  try {
    const value = parse();
    return (value instanceof Promise ? value.catch(rename) : value) as T;
  } catch (error) {
    return rename(error);
  }
}

/** Checks a webhook target and returns it normalised; throws InputError when it may not be used. */
export type TargetCheck = (url: string) => string | Promise<string>;

/** How a caller wants an action watched, meaning not yet checked. */
export interface WatchSettingsInput {
  /** A duration as text (`30m`), or a number of ms. */
  timeout?: string | number | undefined;
  webhooks?: ReadonlyArray<{ url: unknown; on?: unknown }> | undefined;
  tokenProfile?: unknown;
}

/** A watch as a caller gives it (a file line, a request body, a library call), meaning not yet checked. */
export interface WatchInput extends WatchSettingsInput {
  kind: unknown;
  resourceId: unknown;
  actionId: unknown;
}

/** Everything of a WatchRequest but the action. */
export type WatchSettings = WatchRequestSettings;

export interface WatchInputOptions {
  /** Checks (and normalises) each webhook URL. */
  checkTarget: TargetCheck;
  /** Where the watch sits in the request (`watches[3].`), so every message names the exact field. */
  field?: string;
  /** How a message names webhook `index`'s URL; default `webhooks[<index>].url`. */
  webhookField?: (index: number) => string;
  /** The token profile of an input that names none. */
  defaultProfile?: string | undefined;
  /** How messages name the timeout and the token profile (the CLI names its flags); default as the API's fields. */
  timeoutField?: string;
  tokenProfileField?: string;
}

/**
 * The one place a watch's input becomes a WatchRequest, for the CLI's files, the API and the
 * library alike. Throws InputError naming the field at fault.
 */
export async function normaliseWatch(input: WatchInput, options: WatchInputOptions): Promise<WatchRequest> {
  const ref = naming(options.field ?? '', () => parseActionRef(input.kind, input.resourceId, input.actionId));
  return { ...ref, ...(await normaliseWatchSettings(input, options)) };
}

/** normaliseWatch without the action, for callers that learn it later (run, discovery). */
export async function normaliseWatchSettings(
  input: WatchSettingsInput,
  options: WatchInputOptions,
): Promise<WatchSettings> {
  const field = options.field ?? '';
  const webhookField = options.webhookField ?? ((index: number) => `webhooks[${index}].url`);
  const timeoutMs = naming(field, () => parseTimeoutOrMs(input.timeout, options.timeoutField));
  // Only the name is checked: the token lives on the workers, and the caller need not have it.
  const tokenProfile =
    input.tokenProfile === undefined
      ? options.defaultProfile
      : naming(`${field}${options.tokenProfileField ?? 'tokenProfile'}: `, () =>
          parseTokenProfile(input.tokenProfile),
        );
  const webhooks: WatchWebhook[] = [];
  for (const [index, webhook] of (input.webhooks ?? []).entries()) {
    const name = `${field}${webhookField(index)}`;
    const url = webhook.url;
    if (typeof url !== 'string') throw new InputError(`${name} must be a URL string`);
    const on =
      webhook.on === undefined ? undefined : parseOutcomes(webhook.on, `${field}webhooks[${index}].on`);
    webhooks.push({
      url: await naming(`${name}: `, () => options.checkTarget(url)),
      ...(on === undefined ? {} : { on }),
    });
  }
  return {
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(webhooks.length === 0 ? {} : { webhooks }),
    ...(tokenProfile === undefined ? {} : { tokenProfile }),
  };
}

function parseOutcomes(value: unknown, name: string): Outcome[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((item) => typeof item === 'string' && isOutcome(item))
  )
    throw new InputError(
      `${name} must list outcomes among ${OUTCOMES.join(', ')} (got ${JSON.stringify(value)})`,
    );
  return value as Outcome[];
}

/**
 * One InputError for every bad item of a batch (the first three, and how many more): any bad item
 * rejects the whole batch.
 */
export function batchRejected(problems: string[]): InputError {
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
  return new InputError(`${problems.slice(0, 3).join('; ')}${more}; nothing was enqueued`);
}
