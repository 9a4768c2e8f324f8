import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { Secret } from '../src/config/secret.js';
import { InputError } from '../src/errors/input-error.js';
import {
  assertTargetAllowed,
  forbiddenAddressReason,
  RefusedAddressError,
  resolveAllowed,
} from '../src/notifications/webhooks/address-guard.js';
import {
  maxAttempts,
  nominalDelay,
  retryDelay,
  retrySchedule,
} from '../src/notifications/webhooks/retry-schedule.js';
import { validateTargetUrl } from '../src/notifications/webhooks/target-url.js';
import {
  deliveryJobIdFor,
  renderBody,
  slackText,
  webhookIdFor,
  webhookPayload,
} from '../src/notifications/webhooks/webhook-message.js';
import { dispositionOf, parseRetryAfter } from '../src/notifications/webhooks/webhook-sender.js';
import { WebhookSigner } from '../src/notifications/webhooks/webhook-signer.js';
import { configuredTargets, targetsFor } from '../src/notifications/webhooks/webhook-targets.js';
import { outcomeRecord, testSecret } from './fixtures/webhook-records.js';

const HOUR = 3_600_000;

describe('retry schedule', () => {
  it('by default retries for at least 24 h, doubling from 5 s up to 1 h, with jitter that only lengthens', () => {
    const schedule = retrySchedule(24 * HOUR);
    const attempts = maxAttempts(schedule);
    const retries = Array.from({ length: attempts - 1 }, (_, index) => index + 1);
    const nominal = retries.map((retry) => nominalDelay(schedule, retry));
    expect(nominal.slice(0, 4)).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(Math.max(...nominal)).toBe(HOUR);
    const total = nominal.reduce((sum, delay) => sum + delay, 0);
    expect(total).toBeGreaterThanOrEqual(24 * HOUR);
    // ...and no more attempts than needed: one fewer retry would fall short of the span.
    expect(total - (nominal.at(-1) ?? 0)).toBeLessThan(24 * HOUR);
    expect(attempts).toBe(34);

    // The actual delays, with the smallest and the largest jitter, bracket the nominal ones.
    const lowest = retries.map((retry) => retryDelay(schedule, retry, () => 0));
    const highest = retries.map((retry) => retryDelay(schedule, retry, () => 1));
    expect(lowest).toEqual(nominal);
    expect(highest.every((delay, index) => delay === Math.round((nominal[index] ?? 0) * 1.2))).toBe(true);
    expect(lowest.reduce((sum, delay) => sum + delay, 0)).toBeGreaterThanOrEqual(24 * HOUR);
  });

  it('follows WEBHOOK_RETRY_SPAN and the overrides, and honours Retry-After as a minimum', () => {
    const short = retrySchedule(1_000, { baseDelayMs: 100, maxDelayMs: 400, jitter: 0 });
    // 100 + 200 + 400 + 400 = 1100 >= 1000
    expect(maxAttempts(short)).toBe(5);
    expect(maxAttempts(retrySchedule(0))).toBe(1);
    expect(retryDelay(short, 1, () => 0, 2_500)).toBe(1_000); // bounded by the span...
    const day = retrySchedule(24 * HOUR);
    expect(retryDelay(day, 1, () => 0, 30_000)).toBe(30_000); // ...otherwise honoured
    expect(retryDelay(day, 12, () => 0, 1_000)).toBe(HOUR); // never shorter than the schedule
    expect(() => retrySchedule(HOUR, { baseDelayMs: 0 })).toThrow();
  });
});

describe('address guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['10.1.2.3', 'private network'],
    ['172.16.0.1', 'private network'],
    ['172.31.255.255', 'private network'],
    ['192.168.1.1', 'private network'],
    ['169.254.169.254', 'cloud metadata service'],
    ['169.254.10.10', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', '"this network"'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'cloud metadata service'],
    ['fd12:3456::1', 'unique local'],
    ['fc00::1', 'unique local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback, embedded in IPv6'],
    ['::ffff:a9fe:a9fe', 'cloud metadata service, embedded in IPv6'],
    ['::ffff:10.0.0.1', 'private network, embedded in IPv6'],
    ['64:ff9b::a9fe:a9fe', 'cloud metadata service, embedded in IPv6'],
    ['2002:c0a8:0101::1', 'private network, embedded in IPv6'],
  ])('refuses %s (%s)', (address, why) => {
    expect(forbiddenAddressReason(address)).toBe(why);
  });

  it.each([
    '93.184.215.14',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
  ])('allows the public address %s', (address) => {
    expect(forbiddenAddressReason(address)).toBeUndefined();
  });

  it('refuses a host when any address it resolves to is forbidden, unless private targets are allowed', async () => {
    const resolver = async () => [
      { address: '203.0.114.7', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ];
    await expect(resolveAllowed('mixed.example', { allowPrivate: false, resolver })).rejects.toThrow(
      /mixed\.example resolves to 10\.0\.0\.7 \(private network\); refused/,
    );
    await expect(resolveAllowed('mixed.example', { allowPrivate: true, resolver })).resolves.toHaveLength(2);
    await expect(resolveAllowed('::1', { allowPrivate: false })).rejects.toBeInstanceOf(RefusedAddressError);
  });

  it('checks a target at enqueue: IP literals, names that resolve to loopback, names that do not resolve', async () => {
    await expect(assertTargetAllowed('http://127.0.0.1:9/x', { allowPrivate: false })).rejects.toThrow(
      /loopback/,
    );
    await expect(assertTargetAllowed('http://[::1]:9/x', { allowPrivate: false })).rejects.toThrow(
      /loopback/,
    );
    await expect(assertTargetAllowed('http://localhost:9/x', { allowPrivate: false })).rejects.toThrow(
      /localhost resolves to .* refused/,
    );
    await expect(
      assertTargetAllowed('http://metadata.internal/', {
        allowPrivate: false,
        resolver: async () => [{ address: '169.254.169.254', family: 4 }],
      }),
    ).rejects.toThrow(/cloud metadata service/);
    await expect(
      assertTargetAllowed('https://no-such-host.invalid/hook', { allowPrivate: false }),
    ).rejects.toThrow(/no-such-host\.invalid could not be resolved/);
    await expect(
      assertTargetAllowed('http://127.0.0.1:9/x', { allowPrivate: true }),
    ).resolves.toBeUndefined();
  });

  it('validates the URL as given: absolute http(s), no credentials', () => {
    expect(validateTargetUrl('https://hooks.example.com/a?b=1')).toBe('https://hooks.example.com/a?b=1');
    expect(() => validateTargetUrl('/relative')).toThrow(InputError);
    expect(() => validateTargetUrl('ftp://example.com/')).toThrow(/http or https/);
    expect(() => validateTargetUrl('https://user:pw@example.com/')).toThrow(/credentials/);
  });
});

describe('targets', () => {
  const configured = configuredTargets({
    url: 'https://all.example/hook',
    alertUrl: 'https://alerts.example/hook',
    alertFormat: 'slack',
  });

  it('sends every outcome to WEBHOOK_URL and only errored, timed_out and not_found to the alert target', () => {
    const urls = (outcome: Parameters<typeof outcomeRecord>[0]) =>
      targetsFor(outcomeRecord(outcome), configured).map((target) => `${target.source}:${target.format}`);
    expect(urls('completed')).toEqual(['global:json']);
    expect(urls('cancelled')).toEqual(['global:json']);
    expect(urls('errored')).toEqual(['global:json', 'alert:slack']);
    expect(urls('timed_out')).toEqual(['global:json', 'alert:slack']);
    expect(urls('not_found')).toEqual(['global:json', 'alert:slack']);
  });

  it('lets each configured target filter by outcome too', () => {
    const filtered = configuredTargets({
      url: 'https://all.example/hook',
      urlOn: ['completed', 'errored'],
      alertUrl: 'https://alerts.example/hook',
      alertOn: ['timed_out'],
    });
    const sources = (outcome: Parameters<typeof outcomeRecord>[0]) =>
      targetsFor(outcomeRecord(outcome), filtered).map((target) => target.source);
    expect(sources('completed')).toEqual(['global']);
    expect(sources('errored')).toEqual(['global']);
    expect(sources('timed_out')).toEqual(['alert']);
    expect(sources('cancelled')).toEqual([]);
  });

  it('adds per-watch targets with their own filter, and sends a URL named twice once', () => {
    const record = outcomeRecord('completed', {
      webhooks: [
        { url: 'https://mine.example/a', on: ['completed'] },
        { url: 'https://mine.example/b', on: ['errored'] },
        { url: 'https://all.example/hook' },
      ],
    });
    expect(targetsFor(record, configured).map((target) => [target.source, target.url])).toEqual([
      ['global', 'https://all.example/hook'],
      ['watch', 'https://mine.example/a'],
    ]);
  });
});

describe('message', () => {
  it('is the documented JSON body, with the action as the API returned it', () => {
    const record = outcomeRecord('errored', { reason: 'ignored in the json body' });
    const body = JSON.parse(renderBody(record, 'json'));
    expect(body).toEqual({
      type: 'action.errored',
      timestamp: record.watch.finishedAt,
      data: {
        watch: {
          id: record.watch.id,
          kind: 'droplet',
          resourceId: 3_164_444,
          actionId: record.watch.actionId,
          enqueuedAt: record.watch.enqueuedAt,
          finishedAt: record.watch.finishedAt,
        },
        action: record.action,
      },
    });
    expect(body.data.action.region.slug).toBe('nyc3');
    expect(webhookPayload(outcomeRecord('not_found')).data.action).toBeNull();
  });

  it('has a Slack format: one line of text', () => {
    const record = outcomeRecord('timed_out', { reason: 'no terminal status before the deadline' });
    expect(JSON.parse(renderBody(record, 'slack'))).toEqual({ text: slackText(record) });
    expect(slackText(record)).toBe(
      `:hourglass: actionwatch: droplet 3164444 action ${record.watch.actionId} (reboot) timed_out: no terminal status before the deadline`,
    );
  });

  it('derives ids from the outcome and target, so a re-run yields the same ones', () => {
    const record = outcomeRecord('completed');
    const [a, b] = configuredTargets({ url: 'https://a.example/', alertUrl: 'https://b.example/' });
    if (a === undefined || b === undefined) throw new Error('two targets expected');
    expect(webhookIdFor(record, a)).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(webhookIdFor(structuredClone(record), a)).toBe(webhookIdFor(record, a));
    expect(webhookIdFor(record, b)).not.toBe(webhookIdFor(record, a));
    expect(deliveryJobIdFor(record, a)).toMatch(new RegExp(`^${record.watch.id}-[0-9a-f]{12}$`));
    expect(deliveryJobIdFor(record, a)).not.toContain(':');
    // The same action watched again after a cancel is a new outcome, hence a new message.
    const again = {
      ...record,
      watch: { ...record.watch, finishedAt: new Date(Date.now() + 5).toISOString() },
    };
    expect(webhookIdFor(again, a)).not.toBe(webhookIdFor(record, a));
  });
});

describe('signatures (standardwebhooks)', () => {
  it('are accepted by the library verifier, and tampering with body, id, timestamp or secret is rejected', () => {
    const secret = testSecret();
    const signer = new WebhookSigner(new Secret(secret));
    const body = renderBody(outcomeRecord('completed'), 'json');
    const headers = signer.headers('msg_abc', body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const verifier = new Webhook(secret);
    const signed = { ...headers, 'webhook-signature': headers['webhook-signature'] ?? '' };
    expect(verifier.verify(body, signed)).toEqual(JSON.parse(body));

    expect(() => verifier.verify(body.replace('completed', 'errored'), signed)).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifier.verify(body, { ...signed, 'webhook-id': 'msg_other' })).toThrow(
      WebhookVerificationError,
    );
    const earlier = String(Number(signed['webhook-timestamp']) - 1);
    expect(() => verifier.verify(body, { ...signed, 'webhook-timestamp': earlier })).toThrow(
      WebhookVerificationError,
    );
    expect(() => new Webhook(testSecret()).verify(body, signed)).toThrow(WebhookVerificationError);
    // A replay far outside the tolerance is refused too, even with a valid signature for it.
    const old = signer.headers('msg_abc', body, new Date(Date.now() - 3_600_000));
    expect(() =>
      verifier.verify(body, { ...old, 'webhook-signature': old['webhook-signature'] ?? '' }),
    ).toThrow(/too old/);
  });

  it('keeps the secret out of anything printed', () => {
    const secret = testSecret();
    const signer = new WebhookSigner(new Secret(secret));
    expect(JSON.stringify(signer)).not.toContain(secret.slice(6));
    expect(String(new Secret(secret))).toBe('[redacted]');
  });

  it('without a secret, sends the id and timestamp but no signature', () => {
    const headers = new WebhookSigner(undefined).headers('msg_x', '{}');
    expect(headers).toEqual({ 'webhook-id': 'msg_x', 'webhook-timestamp': expect.stringMatching(/^\d+$/) });
  });
});

describe('responses', () => {
  it('classifies statuses', () => {
    expect([200, 201, 204, 299].map(dispositionOf)).toEqual([
      'delivered',
      'delivered',
      'delivered',
      'delivered',
    ]);
    expect([500, 502, 503, 429, 408].map(dispositionOf)).toEqual([
      'retry',
      'retry',
      'retry',
      'retry',
      'retry',
    ]);
    expect(dispositionOf(410)).toBe('gone');
    expect([400, 401, 403, 404, 422, 301, 302].map(dispositionOf)).toEqual(Array(7).fill('client-error'));
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3_000);
    expect(parseRetryAfter('1.5')).toBe(1_500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
