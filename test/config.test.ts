import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig, requireToken } from '../src/config/config.js';
import { parseDuration } from '../src/config/duration.js';
import { problemsOf } from './support/config-problems.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.redis).toMatchObject({ kind: 'standalone', url: 'redis://127.0.0.1:6379' });
    expect(config.prefix).toBe('actionwatch');
    expect(config.digitalocean).toMatchObject({
      apiUrl: 'https://api.digitalocean.com',
      timeoutMs: 10_000,
      token: undefined,
    });
    expect(config.rateLimit).toEqual({ perMinute: 250, perHour: 5000, headroom: 0.1 });
    expect(config.schedule).toMatchObject({ minIntervalMs: 2000, maxIntervalMs: 60_000, firstDelayMs: 0 });
    expect(config.watch.defaultTimeoutMs).toBe(6 * 3_600_000);
    expect(config.observe.mode).toBe('batched');
  });

  it('takes the token from DIGITALOCEAN_TOKEN, else DIGITALOCEAN_ACCESS_TOKEN', () => {
    expect(loadConfig({ DIGITALOCEAN_ACCESS_TOKEN: 'b' }).digitalocean.token?.reveal()).toBe('b');
    expect(
      loadConfig({ DIGITALOCEAN_TOKEN: 'a', DIGITALOCEAN_ACCESS_TOKEN: 'b' }).digitalocean.token?.reveal(),
    ).toBe('a');
    expect(() => requireToken(loadConfig({}))).toThrow(/DIGITALOCEAN_TOKEN is not set/);
  });

  it('never prints the token, whatever serialises it', () => {
    const config = loadConfig({ DIGITALOCEAN_TOKEN: 'dop_v1_supersecret', WEBHOOK_SECRET: 'whsec_c2VjcmV0' });
    const printed = [
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      String(config.digitalocean.token),
    ].join('\n');
    expect(printed).not.toContain('supersecret');
    expect(printed).not.toContain('c2VjcmV0');
    expect(printed).toContain('[redacted]');
  });

  it('names every wrong variable in one error', () => {
    const problems = problemsOf({
      RATE_LIMIT_PER_MINUTE: 'lots',
      POLL_MIN_INTERVAL: 'soon',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://x',
      DIGITALOCEAN_API_URL: 'not a url',
      RATE_LIMIT_HEADROOM: '2',
    });
    expect(problems.join('\n')).toMatch(/RATE_LIMIT_PER_MINUTE/);
    expect(problems.join('\n')).toMatch(/POLL_MIN_INTERVAL/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/REDIS_URL/);
    expect(problems.join('\n')).toMatch(/DIGITALOCEAN_API_URL/);
    expect(problems.join('\n')).toMatch(/RATE_LIMIT_HEADROOM/);
  });

  it('reads outcome filters for the configured webhook targets', () => {
    const config = loadConfig({ WEBHOOK_ON: 'completed, errored', ALERT_WEBHOOK_ON: 'errored' });
    expect(config.webhooks.urlOn).toEqual(['completed', 'errored']);
    expect(config.webhooks.alertOn).toEqual(['errored']);
    expect(loadConfig({}).webhooks.urlOn).toBeUndefined();
    expect(problemsOf({ WEBHOOK_ON: 'completed,finished' })[0]).toMatch(/WEBHOOK_ON must list outcomes/);
  });

  it('rejects inconsistent schedule bounds', () => {
    expect(problemsOf({ POLL_MIN_INTERVAL: '10s', POLL_MAX_INTERVAL: '5s' })).toEqual([
      'POLL_MAX_INTERVAL must be at least POLL_MIN_INTERVAL',
    ]);
    expect(problemsOf({ WORKER_LOCK_DURATION: '1s' })[0]).toMatch(/WORKER_LOCK_DURATION/);
  });

  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('6h')).toBe(21_600_000);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('5x')).toBeUndefined();
    expect(parseDuration('-5s')).toBeUndefined();
  });
});
