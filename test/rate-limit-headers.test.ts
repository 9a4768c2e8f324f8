import { describe, expect, it } from 'vitest';
import { parseRateLimitHeaders, rateLimitWaitMs } from '../src/digitalocean/rate-limit-headers.js';

describe('ratelimit-* headers', () => {
  const now = 1_700_000_000_000;

  it('parses limit, remaining, reset (Unix seconds) and retry-after', () => {
    const snapshot = parseRateLimitHeaders(
      {
        'ratelimit-limit': '5000',
        'ratelimit-remaining': '4321',
        'ratelimit-reset': '1700000060',
        'retry-after': '7',
      },
      now,
    );
    expect(snapshot).toEqual({
      limit: 5000,
      remaining: 4321,
      resetAtMs: 1_700_000_060_000,
      retryAfterMs: 7000,
    });
  });

  it('ignores missing and malformed values', () => {
    expect(parseRateLimitHeaders({ 'ratelimit-limit': 'many', 'ratelimit-remaining': '' }, now)).toEqual({});
  });

  it('accepts retry-after as an HTTP date', () => {
    const date = new Date(now + 30_000).toUTCString();
    expect(parseRateLimitHeaders({ 'retry-after': date }, now).retryAfterMs).toBe(30_000);
  });

  it('waits for retry-after when given, else until ratelimit-reset', () => {
    expect(rateLimitWaitMs({ retryAfterMs: 3000, resetAtMs: now + 900_000 }, now)).toBe(3000);
    expect(rateLimitWaitMs({ resetAtMs: now + 900_000 }, now)).toBe(900_000);
    expect(rateLimitWaitMs({}, now, 60_000)).toBe(60_000);
  });
});
