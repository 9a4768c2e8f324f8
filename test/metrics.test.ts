import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetKeys } from '../src/fleet/fleet-keys.js';
import { emptySweepReport, type SweepReport } from '../src/fleet/sweeper.js';
import { startMetricsServer } from '../src/http/metrics-server.js';
import { Metrics } from '../src/metrics/metrics.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { type Stack, startStack, until } from './support/stack.js';

/** For tests that count polls as requests: in batched mode, shared sweeps look without polling. */
const DIRECT = { OBSERVE_MODE: 'direct' };

/** The value of one series in a scrape; a series the scrape lacks fails the test (it is not 0). */
function sample(text: string, series: string): number {
  const value = maybeSample(text, series);
  if (value === undefined) throw new Error(`no series ${series} in the scrape`);
  return value;
}

/** The value of one series, or undefined while the scrape lacks it (for polling until it is there). */
function maybeSample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function record(
  outcome: OutcomeRecord['outcome'],
  completedAt: string | null,
  finishedAt: string,
): OutcomeRecord {
  return {
    type: `action.${outcome}`,
    outcome,
    watch: {
      id: 'droplet-1-2',
      kind: 'droplet',
      resourceId: 1,
      actionId: 2,
      enqueuedAt: '2026-01-01T00:00:00Z',
      finishedAt,
      polls: 3,
    },
    action: { id: 2, status: outcome === 'errored' ? 'errored' : 'completed', completed_at: completedAt },
  };
}

describe('Metrics', () => {
  let stack: Stack | undefined;
  let server: FastifyInstance | undefined;
  let receiver: Server | undefined;
  afterEach(async () => {
    await server?.close();
    receiver?.close();
    await stack?.close();
    server = undefined;
    receiver = undefined;
    stack = undefined;
  });

  it('keeps its series on a registry of its own, so several can live in one process', async () => {
    const one = new Metrics();
    const two = new Metrics({ processMetrics: true });
    one.outcomeRecorded(record('completed', '2026-01-01T00:00:00Z', '2026-01-01T00:00:03Z'));
    const first = await one.render();
    const second = await two.render();
    expect(sample(first, 'actionwatch_outcomes_total{outcome="completed"}')).toBe(1);
    // The second registry has the counter, and nothing of what the first one counted.
    expect(second).toMatch(/^# TYPE actionwatch_outcomes_total counter$/m);
    expect(maybeSample(second, 'actionwatch_outcomes_total{outcome="completed"}')).toBeUndefined();
    expect(second).toContain('process_cpu_user_seconds_total');
    expect(first).not.toContain('process_cpu_user_seconds_total');
    expect(await globalRegistry.metrics()).not.toContain('actionwatch_');
  });

  it('measures detection latency from completed_at, only when the action has one', async () => {
    const metrics = new Metrics();
    metrics.outcomeRecorded(record('completed', '2026-01-01T00:00:00Z', '2026-01-01T00:00:03.500Z'));
    metrics.outcomeRecorded(record('errored', '2026-01-01T00:00:00Z', '2026-01-01T00:01:30Z'));
    metrics.outcomeRecorded(record('completed', null, '2026-01-01T00:00:03Z'));
    const text = await metrics.render();
    expect(sample(text, 'actionwatch_outcomes_total{outcome="completed"}')).toBe(2);
    expect(sample(text, 'actionwatch_detection_latency_seconds_count{outcome="completed"}')).toBe(1);
    expect(sample(text, 'actionwatch_detection_latency_seconds_sum{outcome="completed"}')).toBe(3.5);
    expect(sample(text, 'actionwatch_detection_latency_seconds_bucket{le="2",outcome="completed"}')).toBe(0);
    expect(sample(text, 'actionwatch_detection_latency_seconds_bucket{le="5",outcome="completed"}')).toBe(1);
    expect(sample(text, 'actionwatch_detection_latency_seconds_bucket{le="60",outcome="errored"}')).toBe(0);
    expect(sample(text, 'actionwatch_detection_latency_seconds_bucket{le="120",outcome="errored"}')).toBe(1);
  });

  it('counts a worker’s polls, DigitalOcean statuses and time paused by a 429', async () => {
    stack = await startStack({ name: 'metrics-429', env: DIRECT });
    const metrics = new Metrics();
    stack.simulator.injectFault({
      kind: 'status',
      status: 429,
      retryAfterSeconds: 1,
      path: /\/actions\//,
      times: 1,
    });
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 5, durationMs: 300 });
    const { watch } = await stack.runtime.watches.watch({
      kind: 'droplet',
      resourceId: 5,
      actionId: action.id,
    });
    await stack.runtime.startWorker({ metrics });
    const outcome = await stack.runtime.waitForOutcome(watch.id, { timeoutMs: 15_000 });
    expect(outcome?.outcome).toBe('completed');

    // The outcome can be read from Redis a moment before the worker's own event about it fires.
    const text = await until(async () => {
      const current = await metrics.render();
      return maybeSample(current, 'actionwatch_outcomes_total{outcome="completed"}') === 1
        ? current
        : undefined;
    });
    expect(sample(text, 'actionwatch_digitalocean_responses_total{status="429"}')).toBe(1);
    expect(sample(text, 'actionwatch_digitalocean_responses_total{status="200"}')).toBe(outcome?.watch.polls);
    expect(sample(text, 'actionwatch_polls_total{result="failed"}')).toBe(1);
    expect(sample(text, 'actionwatch_polls_total{result="completed"}')).toBe(1);
    expect(sample(text, 'actionwatch_rate_limit_paused_seconds_total')).toBe(1);
  });

  it('counts batched observation rounds, how due watches were observed, and says when the budget is short', async () => {
    const metrics = new Metrics();
    const fleet = new EventEmitter<{ round: [SweepReport] }>();
    metrics.observeFleet(fleet);
    metrics.observeFleet(fleet);
    const round = (report: Partial<SweepReport>): SweepReport => ({
      ...emptySweepReport('default'),
      allowance: 10,
      ...report,
    });
    fleet.emit('round', round({ due: 120, pagesRead: 2, viaAccountList: 110, direct: 10, promoted: 7 }));
    fleet.emit(
      'round',
      round({ due: 50, resourceListsRead: 1, viaResourceList: 5, held: 45, short: true, listFailure: '503' }),
    );
    fleet.emit('round', round({ profile: 'ci', due: 3, direct: 3 }));
    const text = await metrics.render();
    expect(sample(text, 'actionwatch_fleet_rounds_total{profile="default",budget="enough"}')).toBe(1);
    expect(sample(text, 'actionwatch_fleet_rounds_total{profile="default",budget="short"}')).toBe(1);
    expect(sample(text, 'actionwatch_fleet_rounds_total{profile="ci",budget="enough"}')).toBe(1);
    const due = (via: string, profile = 'default') =>
      sample(text, `actionwatch_fleet_due_watches_total{profile="${profile}",via="${via}"}`);
    expect([due('account_list'), due('resource_list'), due('own_get'), due('held')]).toEqual([
      110, 5, 10, 45,
    ]);
    expect(due('own_get', 'ci')).toBe(3);
    expect(sample(text, 'actionwatch_fleet_list_requests_total{profile="default",list="account"}')).toBe(2);
    expect(sample(text, 'actionwatch_fleet_list_requests_total{profile="default",list="resource"}')).toBe(1);
    expect(sample(text, 'actionwatch_fleet_promoted_total{profile="default"}')).toBe(7);
    expect(sample(text, 'actionwatch_fleet_list_failures_total{profile="default"}')).toBe(1);
    // The gauge holds the latest round's figure: a short round shows, a covered one clears it.
    expect(sample(text, 'actionwatch_fleet_held_watches{profile="default"}')).toBe(45);
    fleet.emit('round', round({ due: 4, pagesRead: 1, viaAccountList: 4 }));
    expect(sample(await metrics.render(), 'actionwatch_fleet_held_watches{profile="default"}')).toBe(0);
  });

  it('a batched worker started with metrics reports its sweeps', async () => {
    stack = await startStack({ name: 'metrics-fleet', env: { OBSERVE_MODE: 'batched' } });
    const metrics = new Metrics();
    await stack.runtime.startWorker({ metrics });
    // Once the sweeper is up, the watches wait for its sweeps rather than GET on their own; the
    // actions end only after a sweep has seen them running, however slow the machine is.
    const healthy = fleetKeys(stack.prefix, 'default').healthy;
    await until(async () => ((await stack?.runtime.redis.exists(healthy)) === 1 ? true : undefined));
    const refs = [1, 2, 3].map((resourceId) => {
      const action = stack?.simulator.createAction({ kind: 'droplet', resourceId, durationMs: 3_600_000 });
      return { kind: 'droplet' as const, resourceId, actionId: action?.id as number };
    });
    const results = await stack.runtime.watches.watchMany(refs);
    await until(() => ((stack?.simulator.stats().byRoute['GET /v2/actions'] ?? 0) >= 1 ? true : undefined));
    for (const ref of refs) stack.simulator.finishAction(ref.actionId, 'completed');
    for (const { watch } of results) {
      expect((await stack.runtime.waitForOutcome(watch.id, { timeoutMs: 15_000 }))?.outcome).toBe(
        'completed',
      );
    }
    const text = await metrics.render();
    expect(sample(text, 'actionwatch_fleet_rounds_total{profile="default",budget="enough"}')).toBeGreaterThan(
      0,
    );
    expect(
      sample(text, 'actionwatch_fleet_list_requests_total{profile="default",list="account"}'),
    ).toBeGreaterThan(0);
    // A labelled series shows once it is counted: no short round was.
    expect(
      maybeSample(text, 'actionwatch_fleet_rounds_total{profile="default",budget="short"}'),
    ).toBeUndefined();
  });

  it('counts webhook deliveries by result: delivered, retrying and failed (given up)', async () => {
    const seen: string[] = [];
    receiver = createServer((request, response) => {
      const path = request.url ?? '';
      seen.push(path);
      const flakyTries = seen.filter((p) => p === '/flaky').length;
      response.statusCode = path === '/gone' ? 410 : path === '/flaky' && flakyTries === 1 ? 503 : 200;
      response.end();
    });
    await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', resolve));
    const hooks = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    stack = await startStack({ name: 'metrics-webhooks', env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    const metrics = new Metrics();
    await stack.runtime.startDeliveryWorker({ retry: { baseDelayMs: 100, maxDelayMs: 200, jitter: 0 } });
    await stack.runtime.startWorker({ metrics });

    const action = stack.simulator.createAction({ kind: 'image', resourceId: 9, durationMs: 100 });
    await stack.runtime.watches.watch({
      kind: 'image',
      resourceId: 9,
      actionId: action.id,
      webhooks: [{ url: `${hooks}/ok` }, { url: `${hooks}/gone` }, { url: `${hooks}/flaky` }],
    });
    const series = (result: string) => `actionwatch_webhook_deliveries_total{result="${result}"}`;
    const text = await until(async () => {
      const current = await metrics.render();
      return maybeSample(current, series('delivered')) === 2 && maybeSample(current, series('failed')) === 1
        ? current
        : undefined;
    });
    expect(sample(text, series('retrying'))).toBe(1);
    expect(seen.sort()).toEqual(['/flaky', '/flaky', '/gone', '/ok']);
  });

  it('reports queue depths and watches by state when scraped, from a worker’s own metrics port', async () => {
    stack = await startStack({ name: 'metrics-port' });
    const metrics = new Metrics();
    await stack.runtime.watches.watchMany([
      { kind: 'droplet', resourceId: 1, actionId: 11 },
      { kind: 'droplet', resourceId: 1, actionId: 12 },
    ]);
    server = await startMetricsServer(stack.runtime, metrics, { port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;

    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const scrape = await fetch(`${base}/metrics`);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    expect(sample(text, 'actionwatch_watches{state="waiting"}')).toBe(2);
    expect(sample(text, 'actionwatch_watches{state="done"}')).toBe(0);
    // POLL_FIRST_DELAY is 0: the first poll is due at once.
    expect(sample(text, 'actionwatch_queue_jobs{queue="watches",state="waiting"}')).toBe(2);
    expect(sample(text, 'actionwatch_queue_jobs{queue="watches",state="delayed"}')).toBe(0);
    expect(text).toMatch(/^actionwatch_queue_jobs\{queue="deliveries",state="waiting"\} 0$/m);
    // Only operations routes: the API is not served on a metrics port.
    expect((await fetch(`${base}/v1/watches`)).status).toBe(404);
  });
});
