import { readFileSync } from 'node:fs';
import { InputError } from '../errors/input-error.js';
import { assertTargetAllowed } from '../notifications/webhooks/address-guard.js';
import { validateTargetUrl } from '../notifications/webhooks/target-url.js';
import { fileLabel, formatSyntaxProblem, jsonSyntaxProblem } from '../support/syntax-errors.js';
import { isOutcome, type Outcome } from '../watches/watch.js';
import type { WatchRequest } from '../watches/watch-queue.js';
import {
  batchRejected,
  normaliseWatch,
  normaliseWatchSettings,
  parseTimeout,
  type TargetCheck,
  type WatchSettings,
} from '../watches/watch-request.js';

export { parseTimeout };

export function parseOutcomeList(text: string | undefined): Outcome[] | undefined {
  if (text === undefined) return undefined;
  const values = text
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '');
  const bad = values.filter((value) => !isOutcome(value));
  if (values.length === 0 || bad.length > 0) {
    throw new InputError(
      `--on takes outcomes among completed, errored, not_found, timed_out, cancelled (got ${JSON.stringify(text)})`,
    );
  }
  return values as Outcome[];
}

/** The watch flags of `watch`, `watch --in-progress` and `run`. */
export interface WatchFlags {
  timeout?: string | undefined;
  webhook?: string[] | undefined;
  on?: string | undefined;
  tokenProfile?: string | undefined;
}

/**
 * The watch flags as WatchSettings, through the normaliser the API and the library use, each
 * message naming its flag (`--token-profile: …`). `--webhook <url>` is repeatable and shares one
 * `--on` filter; `--on` alone is refused.
 */
export async function settingsFromFlags(flags: WatchFlags): Promise<WatchSettings> {
  const on = parseOutcomeList(flags.on);
  const urls = flags.webhook ?? [];
  if (on !== undefined && urls.length === 0) throw new InputError('--on filters a --webhook: give one');
  return normaliseWatchSettings(
    {
      timeout: flags.timeout,
      tokenProfile: flags.tokenProfile,
      webhooks: urls.map((url) => ({ url, ...(on === undefined ? {} : { on }) })),
    },
    {
      checkTarget: validateTargetUrl,
      webhookField: () => '--webhook',
      timeoutField: '--timeout',
      tokenProfileField: '--token-profile',
    },
  );
}

const LINE_FIELDS = new Set([
  'kind',
  'resourceId',
  'actionId',
  'timeout',
  'webhook',
  'webhooks',
  'on',
  'tokenProfile',
]);

/**
 * One JSON Lines entry of `watch --from-file`, parsed. Throws InputError naming the problem. A
 * line's own `tokenProfile` ("default" for DIGITALOCEAN_TOKEN) wins over `defaultProfile`
 * (--token-profile).
 */
async function parseWatchEntry(
  value: unknown,
  checkTarget: TargetCheck,
  defaultProfile: string | undefined,
): Promise<WatchRequest> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InputError('must be a JSON object');
  const entry = value as Record<string, unknown>;
  const unknown = Object.keys(entry).filter((key) => !LINE_FIELDS.has(key));
  if (unknown.length > 0) throw new InputError(`unknown field ${JSON.stringify(unknown[0])}`);
  // A line's own shorthands: one `webhook` and a `webhooks` list of URLs share one `on`, which
  // may be a list or comma-separated text.
  const on =
    entry.on === undefined
      ? undefined
      : parseOutcomeList(Array.isArray(entry.on) ? entry.on.join(',') : String(entry.on));
  const single = entry.webhook === undefined ? [] : [entry.webhook];
  const listed = Array.isArray(entry.webhooks)
    ? entry.webhooks
    : entry.webhooks === undefined
      ? []
      : [entry.webhooks];
  return normaliseWatch(
    {
      kind: entry.kind,
      resourceId: entry.resourceId,
      actionId: entry.actionId,
      timeout: entry.timeout === undefined ? undefined : String(entry.timeout),
      webhooks: [...single, ...listed].map((url) => ({ url, ...(on === undefined ? {} : { on }) })),
      tokenProfile: entry.tokenProfile,
    },
    {
      checkTarget,
      defaultProfile,
      webhookField: (index) => (index < single.length ? 'webhook' : `webhooks[${index - single.length}]`),
    },
  );
}

/** Reads a whole JSON Lines file (or stdin for `-`); any bad line rejects the whole file. */
export async function readWatchFile(
  path: string,
  checkTarget: TargetCheck,
  defaultProfile?: string,
): Promise<WatchRequest[]> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const requests: WatchRequest[] = [];
  const problems: string[] = [];
  const file = fileLabel(path);
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      problems.push(
        formatSyntaxProblem(file, 'JSON', { ...jsonSyntaxProblem(line, error), line: index + 1 }),
      );
      continue;
    }
    try {
      requests.push(await parseWatchEntry(value, checkTarget, defaultProfile));
    } catch (error) {
      problems.push(`${file}:${index + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw batchRejected(problems);
  if (requests.length === 0) throw new InputError(`${file}: no watches in the file; nothing was enqueued`);
  return requests;
}

/**
 * The enqueue-time address check of every webhook target in `requests` (the delivery worker checks
 * again when it connects). Any refused or unresolvable host rejects the whole batch.
 */
export async function assertWebhooksAllowed(requests: WatchRequest[], allowPrivate: boolean): Promise<void> {
  const urls = new Set(requests.flatMap((request) => (request.webhooks ?? []).map((webhook) => webhook.url)));
  for (const url of urls) {
    try {
      await assertTargetAllowed(url, { allowPrivate });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new InputError(`${message}; nothing was enqueued`);
    }
  }
}
