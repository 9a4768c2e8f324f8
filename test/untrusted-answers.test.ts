import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../src/config/secret.js';
import { DigitalOceanClient } from '../src/digitalocean/client.js';
import type { Action } from '../src/digitalocean/models.js';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import {
  AnswerMismatchError,
  ConnectionFailedError,
  PageLinkError,
  TransientError,
  UnreadableStartError,
} from '../src/errors/digitalocean-api-error.js';
import { fleetKeys } from '../src/fleet/fleet-keys.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { Metrics } from '../src/metrics/metrics.js';
import type { FaultSpec } from '../src/simulator/faults.js';
import { DEFAULT_TOKEN_PROFILE } from '../src/watches/watch-ref.js';
import { runCli } from './support/cli.js';
import { freePort } from './support/free-port.js';
import { LogCapture, SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';

const POST_IMAGE = 'POST /v2/images/:image_id/actions';
const POST_DROPLET = 'POST /v2/droplets/:droplet_id/actions';
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
  /** Arms `faults` while `run` runs, and none after it (some are armed for every request). */
  const withFaults = async <T>(faults: FaultSpec[], run: () => Promise<T>): Promise<T> => {
    for (const fault of faults) inject(fault);
    try {
      return await run();
    } finally {
      stack.simulator.clearFaults();
    }
  };
  /** `fault` on the POST that starts an action of the resource (once). */
  const onStart = (kind: 'droplet' | 'image', id: number, fault: FaultSpec): FaultSpec => ({
    ...fault,
    method: 'POST',
    path: `^/v2/${kind}s/${id}/actions$`,
  });
  /** `fault` on every listing of the resource's actions. */
  const onEveryListing = (kind: 'droplet' | 'image', id: number, fault: FaultSpec): FaultSpec => ({
    ...fault,
    method: 'GET',
    path: `^/v2/${kind}s/${id}/actions$`,
    times: Number.POSITIVE_INFINITY,
  });
  /** The list does not show the started action as what was asked for (as when it lags behind). */
  const hiddenFromListings = (kind: 'droplet' | 'image', id: number, asType: string) =>
    onEveryListing(kind, id, { kind: 'action-fields', fields: { type: asType } });
  /** A start answered with `fault` whose action cannot then be found. */
  const unidentifiable = (kind: 'droplet' | 'image', id: number, fault: FaultSpec, shownAs: string) => {
    stack.simulator.ensureResource(kind, id);
    return [onStart(kind, id, fault), hiddenFromListings(kind, id, shownAs)];
  };

  beforeAll(async () => {
    stack = await startStack({
      name: 'untrusted-answers',
      simulator: { defaultDurationMs: 60_000, durationsByType: { reboot: 400, power_on: 400 } },
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
    await stack.runtime.startChainWorker();
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
        inject(onStart('image', imageId, fault));
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
        expect(watches.every((watch) => (watch.actionId ?? 0) > 0)).toBe(true);
      },
    );

    it('a start that cannot be identified stops `run` with exit 6 and one line, and its --key never sends it again', async () => {
      const imageId = 9111;
      const faults = unidentifiable('image', imageId, { kind: 'bare-action' }, 'convert');
      await withFaults(faults, async () => {
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
      });
    });

    it('the library throws ActionProbablyStartedError for it, having sent the POST once', async () => {
      const imageId = 9112;
      const faults = unidentifiable('image', imageId, { kind: 'truncated' }, 'convert');
      await withFaults(faults, async () => {
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
      });
    });

    it('the client never retries a POST that may have landed, whatever retries it is given; only one that never connected', async () => {
      const imageId = 9113;
      stack.simulator.ensureResource('image', imageId);
      const client = stack.runtime.client();
      const before = posts();
      inject(onStart('image', imageId, { kind: 'truncated' }));
      await expect(
        client.initiateImageAction(imageId, { type: 'convert' }, { retries: 3 }),
      ).rejects.toBeInstanceOf(UnreadableStartError);
      expect(posts() - before).toBe(1);
      inject(onStart('image', imageId, { kind: 'status', status: 503 }));
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

  describe('chains follow the same rule', () => {
    const dropletPosts = () => stack.simulator.stats().byRoute[POST_DROPLET] ?? 0;
    const plan = (droplet: number, name: string) => ({
      name,
      steps: [
        { id: 'reboot', run: { droplet, type: 'reboot' as const } },
        { id: 'power-on', run: { droplet, type: 'power_on' as const } },
      ],
    });

    it('a step answered 2xx with a bare action goes on with the action found, each POST sent once', async () => {
      stack.simulator.ensureResource('droplet', 9401);
      inject(onStart('droplet', 9401, { kind: 'bare-action' }));
      const before = dropletPosts();
      const chain = await watcher.chain(plan(9401, 'bare-9401'));
      const outcome = await watcher.waitForChain(chain, { timeout: 20_000 });
      expect(outcome).toMatchObject({ outcome: 'completed' });
      expect(dropletPosts() - before).toBe(2);
      const reboot = outcome.steps.find((step) => step.id === 'reboot');
      const actions = await actionIdsOf('droplet', 9401);
      expect(actions).toContain(reboot?.runs[0]?.actionId);
    });

    it('a step whose start cannot be identified fails the chain (errored), never sending it again', async () => {
      const faults = unidentifiable('droplet', 9402, { kind: 'bare-action' }, 'shutdown');
      await withFaults(faults, async () => {
        const before = dropletPosts();
        const chain = await watcher.chain(plan(9402, 'lost-9402'));
        const outcome = await watcher.waitForChain(chain, { timeout: 20_000 });
        expect(outcome).toMatchObject({
          type: 'chain.failed',
          outcome: 'errored',
          failedStep: 'reboot',
          reason: expect.stringMatching(
            /reboot of droplet 9402 was probably started .*actionwatch actions droplet 9402/,
          ),
        });
        expect(dropletPosts() - before).toBe(1);
      });
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

  describe('single-action answers, one by one', () => {
    it.each<[string, Record<string, unknown>, string, RegExp]>([
      ['another action', { id: 1 }, 'other_action', /action 1 instead of \d+/],
      [
        'another droplet',
        { resource_id: 65172032 },
        'other_resource',
        /of droplet 65172032 instead of droplet 9211/,
      ],
      [
        'an image action',
        { resource_type: 'image' },
        'other_resource',
        /of image 9211 instead of droplet 9211/,
      ],
      ['a negative id', { id: -5 }, 'invalid', /an action id -5/],
      ['an id past 2^53', { id: 2 ** 60 }, 'invalid', /a malformed action 1152921504606847000/],
      ['a status that is not a string', { status: 42 }, 'invalid', /a malformed action \d+ \(status: /],
    ])(
      '%s is an AnswerMismatchError (a transient fault), never the action',
      async (_what, fields, fault, message) => {
        const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 9211 });
        inject({
          kind: 'action-fields',
          fields,
          method: 'GET',
          path: `^/v2/droplets/9211/actions/${action.id}$`,
          times: 2,
        });
        const error = await stack.runtime
          .client()
          .getDropletAction(9211, action.id, { retries: 1 })
          .then(
            () => undefined,
            (rejection: unknown) => rejection,
          );
        expect(error).toBeInstanceOf(AnswerMismatchError);
        expect(error).toBeInstanceOf(TransientError);
        expect(error).toMatchObject({ fault, askedId: action.id });
        expect((error as Error).message).toMatch(message);
        // Asked twice (one retry), both answers refused; the third answer is the action itself.
        expect(await stack.runtime.client().getDropletAction(9211, action.id)).toMatchObject({
          id: action.id,
        });
      },
    );

    it('an answer without resource fields is taken when its id is the one asked for', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 9212 });
      inject({
        kind: 'action-fields',
        fields: { resource_id: null, resource_type: undefined },
        method: 'GET',
        path: `^/v2/droplets/9212/actions/${action.id}$`,
      });
      expect(await stack.runtime.client().getDropletAction(9212, action.id)).toMatchObject({ id: action.id });
    });
  });

  describe('page links', () => {
    const linkedElsewhere = (dropletId: number) =>
      onEveryListing('droplet', dropletId, { kind: 'next-link', origin: ELSEWHERE });
    const linkedOutsideTheApi = (dropletId: number) =>
      onEveryListing('droplet', dropletId, { kind: 'next-link', link: `${ELSEWHERE}/login?page=2` });

    it('a listing whose next links name another host is read whole, on the configured API URL', async () => {
      const dropletId = 9301;
      const created: Action[] = [];
      for (let i = 0; i < 5; i++)
        created.push(stack.simulator.createAction({ kind: 'droplet', resourceId: dropletId }));
      await withFaults([linkedElsewhere(dropletId)], async () => {
        const before = lists();
        const seen: number[] = [];
        const client = stack.runtime.client();
        for await (const action of client.iterateResourceActions('droplet', dropletId, { perPage: 2 }))
          seen.push(action.id);
        expect(seen.sort((a, b) => a - b)).toEqual(created.map((action) => action.id).sort((a, b) => a - b));
        expect(lists() - before).toBe(3);
      });
    });

    it('watch --in-progress watches every in-progress action across pages whose links name another host', async () => {
      const dropletId = 9302;
      // More than one page of 200.
      for (let i = 0; i < 205; i++) stack.simulator.createAction({ kind: 'droplet', resourceId: dropletId });
      await withFaults([linkedElsewhere(dropletId)], async () => {
        const watched = await watcher.watchInProgress('droplet', dropletId);
        expect(watched).toHaveLength(205);
        for (const watch of watched) await stack.runtime.watches.cancel(watch.id);
      });
    });

    it('a next link that is not an API path fails the listing loudly (PageLinkError), never a partial list', async () => {
      const dropletId = 9303;
      for (let i = 0; i < 3; i++) stack.simulator.createAction({ kind: 'droplet', resourceId: dropletId });
      await withFaults([linkedOutsideTheApi(dropletId)], async () => {
        const seen: number[] = [];
        const client = stack.runtime.client();
        const listing = (async () => {
          for await (const action of client.iterateResourceActions('droplet', dropletId, { perPage: 2 }))
            seen.push(action.id);
        })();
        await expect(listing).rejects.toBeInstanceOf(PageLinkError);
        expect(seen).toHaveLength(2);

        // --in-progress watches all or nothing.
        const watching = watcher.watchInProgress('droplet', dropletId, { perPage: 2 });
        await expect(watching).rejects.toBeInstanceOf(PageLinkError);
        const watches = (await stack.runtime.watches.list({ kind: 'droplet', limit: 1000 })).watches;
        expect(watches.filter((watch) => watch.resourceId === dropletId)).toEqual([]);

        const cli = await runCli(['actions', 'droplet', String(dropletId)], env);
        expect(cli.code).toBe(1);
        expect(cli.stderr).toMatch(
          /actionwatch: .*the next-page link "http:\/\/127\.0\.0\.1:9\/login\?page=2" is not a DigitalOcean API path/,
        );
      });
    });
  });
  it('batched observation takes nothing from a list entry under another resource, and records nothing of it', async () => {
    const batched = await startStack({
      name: 'untrusted-batched',
      simulator: { defaultDurationMs: 600_000 },
      env: { OBSERVE_MODE: 'batched', RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_HOUR: '1000000' },
    });
    try {
      const { simulator, runtime } = batched;
      // Enough watches on one droplet that lists, not single GETs, are the cheap way to see them.
      const actions = Array.from({ length: 8 }, () =>
        simulator.createAction({ kind: 'droplet', resourceId: 9501 }),
      );
      // Every list shows them errored, on another droplet.
      const elsewhere: FaultSpec = {
        kind: 'action-fields',
        fields: { resource_id: 65172032, status: 'errored' },
        method: 'GET',
        times: Number.POSITIVE_INFINITY,
      };
      simulator.injectFault({ ...elsewhere, path: '^/v2/actions$' });
      simulator.injectFault({ ...elsewhere, path: '^/v2/droplets/9501/actions$' });
      await runtime.startWorker({ concurrency: 4, webhooks: false });
      const results = await runtime.watches.watchMany(
        actions.map((action) => ({ kind: 'droplet' as const, resourceId: 9501, actionId: action.id })),
      );
      const routes = () => simulator.stats().byRoute;
      const listed = () =>
        (routes()['GET /v2/actions'] ?? 0) + (routes()['GET /v2/droplets/:droplet_id/actions'] ?? 0);
      await until(() => listed() >= 3, 20_000);
      const observations = fleetKeys(batched.prefix, DEFAULT_TOKEN_PROFILE).observations;
      for (const [index, { watch }] of results.entries()) {
        expect(await runtime.watches.outcomes.get(watch.id)).toBeUndefined();
        const recorded = await runtime.redis.hget(observations, String(actions[index]?.id));
        expect(recorded === null || !/"status":"errored"/.test(recorded)).toBe(true);
      }

      simulator.clearFaults();
      for (const action of actions) simulator.finishAction(action.id, 'completed');
      for (const [index, { watch }] of results.entries()) {
        const record = await runtime.waitForOutcome(watch.id, { timeoutMs: 20_000 });
        expect(record).toMatchObject({
          outcome: 'completed',
          action: { id: actions[index]?.id, resource_id: 9501 },
        });
      }
    } finally {
      await batched.close();
    }
  });
});

function counter(scrape: string, name: string, label: string): number {
  const line = scrape
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}
