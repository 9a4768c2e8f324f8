import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import axios from 'axios';
import { USER_AGENT } from '../../version.js';
import {
  type AddressGuardOptions,
  guardedLookup,
  hostOf,
  RefusedAddressError,
  resolveAllowed,
} from './address-guard.js';

/**
 * What to do after one attempt: done, try again on the schedule, give up on a 410, count a client
 * error (a few are retried), or stop because the target resolves somewhere forbidden.
 */
export type Disposition = 'delivered' | 'retry' | 'gone' | 'client-error' | 'refused';

export interface AttemptResult {
  disposition: Disposition;
  /** The HTTP status, or null when no response came. */
  status: number | null;
  durationMs: number;
  /** Why it did not succeed, in words (with a short excerpt of the response body, if any). */
  error?: string;
  /** A 429's or 503's Retry-After, in ms. */
  retryAfterMs?: number;
}

export interface SendOptions extends AddressGuardOptions {
  timeoutMs: number;
}

export interface OutgoingWebhook {
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** At most this much of a response body is read, and less is kept. */
const EXCERPT_BYTES = 512;
const EXCERPT_CHARS = 200;

/** `retry-after`: delta-seconds or an HTTP date (RFC 9110). */
export function parseRetryAfter(value: unknown, nowMs = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export function dispositionOf(status: number): Disposition {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  // 3xx (redirects are not followed) and the other 4xx: the request itself is unwelcome.
  return 'client-error';
}

/** The first bytes of a response body, flattened to one printable line; never the whole body. */
async function readExcerpt(stream: Readable, waitMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    const finish = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= EXCERPT_BYTES) finish();
    });
    stream.once('end', finish);
    stream.once('error', finish);
  });
  stream.destroy();
  const text = Buffer.concat(chunks)
    .subarray(0, EXCERPT_BYTES)
    .toString('utf8')
    .replace(/\p{Cc}+/gu, ' ')
    .trim();
  return text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text;
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && current !== null && chain.length < 5; ) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const chain = causeChain(error);
  const coded = chain.find((item) => typeof (item as { code?: unknown }).code === 'string') as
    | { code: string; message?: string }
    | undefined;
  const code = coded?.code;
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' || code === 'ABORT_ERR')
    return `no response within ${timeoutMs} ms`;
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined || message.includes(code) ? message : `${code}: ${message}`;
}

/**
 * One POST of a webhook: no redirects followed, no proxy (it would bypass the address check), the
 * destination address checked at connect time, and a hard deadline on the whole exchange.
 */
export async function sendWebhook(webhook: OutgoingWebhook, options: SendOptions): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const host = hostOf(new URL(webhook.url));
    // Node skips `lookup` for IP literals, so those are checked here.
    if (isIP(host) !== 0) await resolveAllowed(host, options);
    const response = await axios.request<Readable>({
      method: 'POST',
      url: webhook.url,
      data: Buffer.from(webhook.body, 'utf8'),
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...webhook.headers },
      maxRedirects: 0,
      proxy: false,
      lookup: guardedLookup(options),
      responseType: 'stream',
      validateStatus: () => true,
      timeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const durationMs = elapsed();
    const disposition = dispositionOf(response.status);
    if (disposition === 'delivered') {
      response.data.destroy();
      return { disposition, status: response.status, durationMs };
    }
    const excerpt = await readExcerpt(
      response.data,
      Math.max(50, Math.min(1000, options.timeoutMs - durationMs)),
    );
    const location = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
    const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
    return {
      disposition,
      status: response.status,
      durationMs,
      error: `HTTP ${response.status}${location}${excerpt === '' ? '' : `: ${excerpt}`}`,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  } catch (error) {
    const refused = causeChain(error).find((item) => item instanceof RefusedAddressError);
    if (refused instanceof RefusedAddressError)
      return { disposition: 'refused', status: null, durationMs: elapsed(), error: refused.message };
    return {
      disposition: 'retry',
      status: null,
      durationMs: elapsed(),
      error: describeFailure(error, options.timeoutMs),
    };
  }
}
