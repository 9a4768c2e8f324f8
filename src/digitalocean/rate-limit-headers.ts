/** What one response said about the token's budget. Any field may be missing. */
export interface RateLimitSnapshot {
  /** `ratelimit-limit`: the hourly limit. */
  limit?: number;
  /** `ratelimit-remaining`: requests left in the sliding hour. */
  remaining?: number;
  /** `ratelimit-reset`: Unix time in ms when the oldest counted request expires. */
  resetAtMs?: number;
  /** `retry-after` of a 429 (per-minute limit only), in ms. */
  retryAfterMs?: number;
}

type HeaderBag = Record<string, unknown> | { get(name: string): unknown };

function header(headers: HeaderBag, name: string): string | undefined {
  const raw =
    typeof (headers as { get?: unknown }).get === 'function'
      ? (headers as { get(name: string): unknown }).get(name)
      : (headers as Record<string, unknown>)[name];
  if (raw === undefined || raw === null) return undefined;
  const text = Array.isArray(raw) ? String(raw[0]) : String(raw);
  return text.trim() === '' ? undefined : text.trim();
}

function nonNegativeNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** `retry-after` is delta-seconds or an HTTP date (RFC 9110). */
function retryAfterMs(text: string | undefined, nowMs: number): number | undefined {
  if (text === undefined) return undefined;
  const seconds = nonNegativeNumber(text);
  if (seconds !== undefined) return Math.ceil(seconds * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export function parseRateLimitHeaders(headers: HeaderBag, nowMs = Date.now()): RateLimitSnapshot {
  const snapshot: RateLimitSnapshot = {};
  const limit = nonNegativeNumber(header(headers, 'ratelimit-limit'));
  const remaining = nonNegativeNumber(header(headers, 'ratelimit-remaining'));
  const reset = nonNegativeNumber(header(headers, 'ratelimit-reset'));
  const retryAfter = retryAfterMs(header(headers, 'retry-after'), nowMs);
  if (limit !== undefined) snapshot.limit = limit;
  if (remaining !== undefined) snapshot.remaining = remaining;
  if (reset !== undefined) snapshot.resetAtMs = reset * 1000;
  if (retryAfter !== undefined) snapshot.retryAfterMs = retryAfter;
  return snapshot;
}

/** How long a 429 asks us to stay quiet: `retry-after` if given, else until `ratelimit-reset`. */
export function rateLimitWaitMs(
  snapshot: RateLimitSnapshot,
  nowMs = Date.now(),
  fallbackMs = 60_000,
): number {
  if (snapshot.retryAfterMs !== undefined) return snapshot.retryAfterMs;
  if (snapshot.resetAtMs !== undefined) return Math.max(1000, snapshot.resetAtMs - nowMs);
  return fallbackMs;
}
