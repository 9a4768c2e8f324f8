import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../src/config/secret.js';
import { DigitalOceanClient } from '../src/digitalocean/client.js';
import type { Action } from '../src/digitalocean/models.js';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import {
  ConnectionFailedError,
  PageLinkError,
  TransientError,
  UnreadableStartError,
} from '../src/errors/digitalocean-api-error.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { Metrics } from '../src/metrics/metrics.js';
import type { FaultSpec } from '../src/simulator/faults.js';
import { runCli } from './support/cli.js';
import { LogCapture, SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';

const POST_IMAGE = 'POST /v2/images/:image_id/actions';
const LIST_DROPLET = 'GET /v2/droplets/:droplet_id/actions';
/** A host nothing listens on: were a link followed there, the request would fail. */
const ELSEWHERE = 'http://127.0.0.1:9';

/**
 * What DigitalOcean (or a proxy, or a mock server) may answer that nobody on this project wrote:
 * a 2xx POST whose body does not say which action started, a GET about another action, a negative
 * id, a next link on another host. Everything goes over real HTTP to the simulator, whose faults
 * let each request do what it does (a POST starts its action) and then change its answer.
 */
describe('answers nobody should trust', () => {
  let stack: Stack;
  let metrics: Metrics;
  let env: Record<string, string>;
  let watcher: ActionWatcher;
  const posts = () => stack.simulator.stats().byRoute[POST_IMAGE] ?? 0;
  const lists = () => stack.simulator.stats().byRoute[LIST_DROPLET] ?? 0;
  const actionIdsOf = async (kind: 'droplet' | 'image', id: number) => {
    const ids: number[] = [];
    for await (const action of stack.runtime.client().iterateResourceActions(kind, id)) ids.push(action.id);
    return ids;
  };
  const inject = (fault: FaultSpec) => stack.simulator.injectFault(fault);

  beforeAll(async () => {
    stack = await startStack({
      name: 'untrusted-answers',
      simulator: { defaultDurationMs: 60_000 },
      // Hundreds of watches poll here: the budget is not what these tests are about.
      env: {
        OBSERVE_MODE: 'direct',
        DIGITALOCEAN_RETRIES: '1',
        RATE_LIMIT_PER_MINUTE: '100000',
        RATE_LIMIT_PER_HOUR: '1000000',
      },
    });
    env = stack.processEnv({
      OBSERVE_MODE: 'direct',
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_HOUR: '1000000',
    });
    metrics = new Metrics();
    await stack.runtime.startWorker({ concurrency: 4, webhooks: false, metrics });
    watcher = ActionWatcher.fromRuntime(stack.runtime);
  });

  afterAll(async () => {
    await stack?.close();
  });

  describe('a 2xx answer to a POST is an action that started', () => {
    it.each<[string, FaultSpec, number]>([
      ['a bare action instead of {"action": …}', { kind: 'bare-action' }, 9101],
      ['a body cut off halfway', { kind: 'truncated' }, 9102],
      ['a negative action id', { kind: 'action-fields', fields: { id: -25136564 } }, 9103],
      ['another resource', { kind: 'action-fields', fields: { resource_id: 65172032 } }, 9104],
    ])(
      'answered with %s: sent once, found among the resource actions and watched by its real id',
      async (_what, fault, imageId) => {
        stack.simulator.ensureResource('image', imageId);
        inject({ ...fault, method: 'POST', path: `^/v2/images/${imageId}/actions$` });
        const before = posts();
        const result = await watcher.run(
          { kind: 'image', resourceId: imageId, type: 'transfer', region: 'ams3' },
          { key: `unreadable-${imageId}` },
        );
        expect(posts() - before).toBe(1);
        const onDigitalOcean = await actionIdsOf('image', imageId);
        expect(onDigitalOcean).toHaveLength(1);
        expect(result).toMatchObject({ started: false, recovered: true });
        expect(result.action.id).toBe(onDigitalOcean[0]);
        expect(result.watch.id).toBe(`image-${imageId}-${onDigitalOcean[0]}`);
        // No watch of an id < 1: the only watch of this image is the real action's.
        const watches = (await stack.runtime.watches.list({ kind: 'image', limit: 1000 })).watches;
        expect(
          watches.filter((watch) => watch.resourceId === imageId).map((watch) => watch.actionId),
        ).toEqual(onDigitalOcean);
        expect(watches.every((watch) => watch.actionId > 0)).toBe(true);
      },
    );

    it('a start that cannot be identified stops `run` with exit 6 and one line, and its --key never sends it again', async () => {
      const imageId = 9111;
      stack.simulator.ensureResource('image', imageId);
      inject({ kind: 'bare-action', method: 'POST', path: `^/v2/images/${imageId}/actions$` });
      // The resource's list does not show it as a transfer either (as when the list lags behind).
      inject({
        kind: 'action-fields',
        fields: { type: 'convert' },
        method: 'GET',
        path: `^/v2/images/${imageId}/actions$`,
        times: Number.POSITIVE_INFINITY,
      });
      try {
        const before = posts();
        const args = ['run', 'image', String(imageId), 'transfer', '--region', 'ams3', '--key', 'lost-9111'];
        const first = await runCli(args, env);
        expect(first.code).toBe(6);
        const lines = first.stderr.trim().split('\n');
        expect(lines.filter((line) => line.startsWith('actionwatch: '))).toHaveLength(1);
        expect(first.stderr).toMatch(
          /actionwatch: the transfer of image 9111 to ams3 was probably started \(.*\).*find it with `actionwatch actions image 9111`/,
        );
        expect(first.stdout).toBe('');
        expect(posts() - before).toBe(1);

        const again = await runCli(args, env);
        expect(again.code).toBe(6);
        expect(posts() - before).toBe(1);
        // Nothing was watched.
        const watches = (await stack.runtime.watches.list({ kind: 'image', limit: 1000 })).watches;
        expect(watches.filter((watch) => watch.resourceId === imageId)).toEqual([]);
      } finally {
        stack.simulator.clearFaults();
      }
    });

    it('the library throws ActionProbablyStartedError for it, having sent the POST once', async () => {
      const imageId = 9112;
      stack.simulator.ensureResource('image', imageId);
      inject({ kind: 'truncated', method: 'POST', path: `^/v2/images/${imageId}/actions$` });
      stack.simulator.injectFault({
        kind: 'action-fields',
        fields: { type: 'convert' },
        method: 'GET',
        path: `^/v2/images/${imageId}/actions$`,
        times: Number.POSITIVE_INFINITY,
      });
      try {
        const before = posts();
        const error = await watcher
          .run({ kind: 'image', resourceId: imageId, type: 'transfer', region: 'nyc3' })
          .then(
            () => undefined,
            (rejection: unknown) => rejection,
          );
        expect(error).toBeInstanceOf(ActionProbablyStartedError);
        expect((error as ActionProbablyStartedError).details).toMatchObject({
          answered: true,
          resourceId: imageId,
        });
        expect(posts() - before).toBe(1);
      } finally {
        stack.simulator.clearFaults();
      }
    });

    it('the client never retries a POST that may have landed, whatever retries it is given; only one that never connected', async () => {
      const imageId = 9113;
      stack.simulator.ensureResource('image', imageId);
      const client = stack.runtime.client();
      const before = posts();
      inject({ kind: 'truncated', method: 'POST', path: `^/v2/images/${imageId}/actions$` });
      await expect(
        client.initiateImageAction(imageId, { type: 'convert' }, { retries: 3 }),
      ).rejects.toBeInstanceOf(UnreadableStartError);
      expect(posts() - before).toBe(1);
      inject({ kind: 'status', status: 503, method: 'POST', path: `^/v2/images/${imageId}/actions$` });
      const failed = client.initiateImageAction(imageId, { type: 'convert' }, { retries: 3 });
      await expect(failed).rejects.toBeInstanceOf(TransientError);
      expect(posts() - before).toBe(2);

      const closedPort = await freePort();
      const logs = new LogCapture('debug');
      const unreachable = new DigitalOceanClient({
        baseUrl: `http://127.0.0.1:${closedPort}`,
        token: new Secret(SIM_TOKEN),
        logger: logs.logger,
      });
      const refused = unreachable.initiateImageAction(imageId, { type: 'convert' }, { retries: 2 });
      await expect(refused).rejects.toBeInstanceOf(ConnectionFailedError);
      expect(logs.find((line) => line.msg === 'transient failure, retrying')).toHaveLength(2);
    });
  });

  describe('every answer is checked against the question', () => {
    it('an answer about another action never ends a watch: a failed poll, logged once with both ids, counted', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 9201, durationMs: 600_000 });
      const path = `^/v2/droplets/9201/actions/${action.id}$`;
      const applied = () => stack.simulator.stats().faultsApplied;
      const before = applied();
      // The answer of the issue: another action's id on another droplet, errored; then another
      // action of the same droplet, completed.
      inject({
        kind: 'action-fields',
        fields: { id: -78617310, resource_id: 65172032, status: 'errored' },
        method: 'GET',
        path,
        times: 3,
      });
      inject({
        kind: 'action-fields',
        fields: { id: action.id + 1000, status: 'completed' },
        method: 'GET',
        path,
        times: 3,
      });
      const { watch } = await stack.runtime.watches.watch({
        kind: 'droplet',
        resourceId: 9201,
        actionId: action.id,
      });
      await until(() => applied() - before >= 6, 30_000);
      // The next poll after the faults sees the action itself, still in progress.
      await until(
        async () =>
          (await stack.runtime.watches.get(watch.id))?.action?.status === 'in-progress' ? true : undefined,
        15_000,
      );
      expect(await stack.runtime.watches.outcomes.get(watch.id)).toBeUndefined();

      const warned = stack.logs.find(
        (line) =>
          line.level === 40 && line.watchId === watch.id && /answered about action/.test(String(line.msg)),
      );
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ actionId: action.id, answeredId: -78617310 });
      expect(String(warned[0]?.msg)).toContain(String(action.id));
      expect(String(warned[0]?.msg)).toContain('-78617310');

      const scrape = await metrics.render();
      // DIGITALOCEAN_RETRIES=1: each poll asks twice, so 6 bad answers are 3 failed polls.
      expect(
        counter(scrape, 'actionwatch_digitalocean_answer_mismatches_total', 'fault="invalid"'),
      ).toBeGreaterThanOrEqual(1);
      expect(
        counter(scrape, 'actionwatch_digitalocean_answer_mismatches_total', 'fault="other_action"'),
      ).toBeGreaterThanOrEqual(1);

      stack.simulator.finishAction(action.id, 'completed');
      const record = await watcher.waitFor(watch.id, { timeout: '20s' });
      expect(record.outcome).toBe('completed');
      expect(record.action?.id).toBe(action.id);
    });
  });

  describe('page links', () => {
    it('a listing whose next links name another host is read whole, on the configured API URL', async () => {
      const dropletId = 9301;
      const created: Action[] = [];
      for (let i = 0; i < 5; i++)
        created.push(stack.simulator.createAction({ kind: 'droplet', resourceId: dropletId }));
      inject({
        kind: 'next-link',
        origin: ELSEWHERE,
        method: 'GET',
        path: `^/v2/droplets/${dropletId}/actions$`,
        times: Number.POSITIVE_INFINITY,
      });
      try {
        const before = lists();
        const seen: number[] = [];
        const client = stack.runtime.client();
        for await (const action of client.iterateResourceActions('droplet', dropletId, { perPage: 2 }))
          seen.push(action.id);
        expect(seen.sort((a, b) => a - b)).toEqual(created.map((action) => action.id).sort((a, b) => a - b));
        expect(lists() - before).toBe(3);
      } finally {
        stack.simulator.clearFaults();
      }
    });

    it('watch --in-progress watches every in-progress action across pages whose links name another host', async () => {
      const dropletId = 9302;
      // More than one page of 200.
      for (let i = 0; i < 205; i++) stack.simulator.createAction({ kind: 'droplet', resourceId: dropletId });
      inject({
        kind: 'next-link',
        origin: ELSEWHERE,
        method: 'GET',
        path: `^/v2/droplets/${dropletId}/actions$`,
        times: Number.POSITIVE_INFINITY,
      });
      try {
        const watched = await watcher.watchInProgress('droplet', dropletId);
        expect(watched).toHaveLength(205);
        for (const watch of watched) await stack.runtime.watches.cancel(watch.id);
      } finally {
        stack.simulator.clearFaults();
      }
    });

    it('a next link that is not an API path fails the listing loudly (PageLinkError), never a partial list', async () => {
      const dropletId = 9303;
      for (let i = 0; i < 3; i++) stack.simulator.createAction({ kind: 'droplet', resourceId: dropletId });
      inject({
        kind: 'next-link',
        link: `${ELSEWHERE}/login?page=2`,
        method: 'GET',
        path: `^/v2/droplets/${dropletId}/actions$`,
      });
      const seen: number[] = [];
      const listing = (async () => {
        for await (const action of stack.runtime
          .client()
          .iterateResourceActions('droplet', dropletId, { perPage: 2 }))
          seen.push(action.id);
      })();
      await expect(listing).rejects.toBeInstanceOf(PageLinkError);
      expect(seen).toHaveLength(2);

      inject({
        kind: 'next-link',
        link: `${ELSEWHERE}/login?page=2`,
        method: 'GET',
        path: `^/v2/droplets/${dropletId}/actions$`,
      });
      const cli = await runCli(['actions', 'droplet', String(dropletId)], env);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(
        /actionwatch: .*the next-page link "http:\/\/127\.0\.0\.1:9\/login\?page=2" is not a DigitalOcean API path/,
      );
    });
  });
});

function counter(scrape: string, name: string, label: string): number {
  const line = scrape
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
