import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/digitalocean/models.js';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { parseDropletCreate } from '../src/runs/droplet-create.js';
import { RunKeys } from '../src/runs/run-keys.js';
import type { Watch } from '../src/watches/watch.js';
import { runCli } from './support/cli.js';
import { SimulatorProxy } from './support/simulator-proxy.js';
import { type Stack, startStack } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

const POST_DROPLETS = 'POST /v2/droplets';

/** One line of `run droplet create`. */
interface CreateLine {
  started: boolean;
  recovered: boolean;
  key: string;
  tag: string;
  dropletId: number;
  name: string;
  actionId: number;
  watch: Watch;
}

function lines<T>(stdout: string): T[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as T);
}

describe('actionwatch run droplet create', () => {
  let stack: Stack;
  let env: Record<string, string>;
  let keys: RunKeys;
  const posts = () => stack.simulator.stats().byRoute[POST_DROPLETS] ?? 0;
  const base = ['run', 'droplet', 'create', '--region', 'nyc3', '--size', 's-1vcpu-1gb'];

  beforeAll(async () => {
    stack = await startStack({
      name: 'run-create',
      simulator: { defaultDurationMs: 800, firstDropletId: 91_000 },
      // A short request timeout: a held answer counts as lost quickly.
      env: { DIGITALOCEAN_TIMEOUT: '500ms' },
    });
    env = stack.processEnv({ DIGITALOCEAN_TIMEOUT: '500ms' });
    keys = new RunKeys(stack.runtime.redis, { prefix: stack.prefix, retentionMs: 60_000 });
    await stack.runtime.startWorker({ concurrency: 8, webhooks: false });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('creates one droplet and, with --wait, blocks until its create action completed and it is active', async () => {
    const before = posts();
    const result = await runCli(
      [...base, '--name', 'web-one', '--image', 'ubuntu-24-04-x64', '--tag', 'env:prod', '--wait'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [action] = lines<Action>(result.stdout);
    expect(action).toMatchObject({ type: 'create', status: 'completed', resource_type: 'droplet' });
    expect(posts() - before).toBe(1);
    const droplet = await stack.runtime.client().getDroplet(action?.resource_id as number);
    expect(droplet).toMatchObject({ name: 'web-one', status: 'active' });
    expect(droplet.tags).toContain('env:prod');
    expect(droplet.tags?.some((tag) => /^actionwatch:[0-9a-f]{12}$/.test(tag))).toBe(true);
  });

  it('creates several droplets in one request, printing one line per droplet with its watch', async () => {
    const before = posts();
    const result = await runCli(
      [...base, '--name', 'web-a', '--name', 'web-b', '--name', 'web-c', '--image', '7555620'],
      env,
    );
    expect(result.code).toBe(0);
    const created = lines<CreateLine>(result.stdout);
    expect(created.map((line) => line.name)).toEqual(['web-a', 'web-b', 'web-c']);
    expect(posts() - before).toBe(1);
    expect(new Set(created.map((line) => line.dropletId)).size).toBe(3);
    for (const line of created) {
      expect(line).toMatchObject({
        started: true,
        recovered: false,
        watch: { id: `droplet-${line.dropletId}-${line.actionId}`, kind: 'droplet', state: 'waiting' },
      });
      expect(line.tag).toMatch(/^actionwatch:[0-9a-f]{12}$/);
    }
    const outcomes = await Promise.all(
      created.map((line) => stack.runtime.waitForOutcome(line.watch.id, { timeoutMs: 15_000 })),
    );
    expect(outcomes.map((outcome) => outcome?.outcome)).toEqual(['completed', 'completed', 'completed']);
    for (const line of created) {
      const droplet = await stack.runtime.client().getDroplet(line.dropletId);
      expect(droplet).toMatchObject({ name: line.name, status: 'active' });
    }
  });

  it('with --wait and several names, prints each final create action and exits 0 when all completed', async () => {
    const result = await runCli(
      [...base, '--name', 'w-1', '--name', 'w-2', '--image', 'ubuntu-24-04-x64', '--wait'],
      env,
    );
    expect(result.code).toBe(0);
    const actions = lines<Action>(result.stdout);
    expect(actions.map((action) => [action.type, action.status])).toEqual([
      ['create', 'completed'],
      ['create', 'completed'],
    ]);
  });

  it('with the same --key, a retried create returns the same droplets and sends one POST', async () => {
    const since = Date.now();
    const postsSince = () =>
      stack.simulator
        .requestLog()
        .filter((entry) => entry.route === POST_DROPLETS && entry.arrivedAt >= since).length;
    const args = [
      ...base,
      '--name',
      'api-1',
      '--name',
      'api-2',
      '--image',
      'ubuntu-24-04-x64',
      '--key',
      'rel-7',
    ];
    const first = lines<CreateLine>((await runCli(args, env)).stdout);
    const again = await runCli(args, env);
    expect(again.code).toBe(0);
    const second = lines<CreateLine>(again.stdout);
    expect(postsSince()).toBe(1);
    expect(second.map((line) => [line.dropletId, line.actionId, line.watch.id])).toEqual(
      first.map((line) => [line.dropletId, line.actionId, line.watch.id]),
    );
    expect(second.every((line) => !line.started && !line.recovered && line.key === 'rel-7')).toBe(true);
    const stored = await keys.get('rel-7');
    expect(stored?.record).toMatchObject({
      state: 'created',
      droplets: first.map(({ dropletId, name, actionId }) => ({ dropletId, name, actionId })),
    });

    // The key is bound to its request.
    const other = await runCli(
      [...base, '--name', 'api-3', '--image', 'ubuntu-24-04-x64', '--key', 'rel-7'],
      env,
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/key rel-7 was already used to start a different action/);
    expect(postsSince()).toBe(1);
  });

  it('two creates with one key at once: the second waits on the first, and one POST makes the droplets', async () => {
    // The POST is held a moment, so the second caller finds the first one's claim live.
    stack.simulator.injectFault({ kind: 'delay', delayMs: 300, method: 'POST', path: '^/v2/droplets$' });
    const before = posts();
    const spec = parseDropletCreate({
      names: ['twin-1'],
      region: 'lon1',
      size: 's-1vcpu-1gb',
      image: 'ubuntu-24-04-x64',
    });
    const [first, second] = await Promise.all([
      stack.runtime.actionStarter().create(spec, { key: 'twins' }),
      stack.another().actionStarter().create(spec, { key: 'twins' }),
    ]);
    expect(posts() - before).toBe(1);
    expect(second?.droplets).toEqual(first?.droplets);
    expect([first?.started, second?.started].sort()).toEqual([false, true]);
  });

  it('a create that landed but whose answer was lost is found by its tag, never sent again', async () => {
    const proxy = await SimulatorProxy.start(stack.simulator.url);
    try {
      const runtime = stack.another({ DIGITALOCEAN_API_URL: proxy.url });
      proxy.loseAnswers('POST', /^\/v2\/droplets$/);
      const before = posts();
      const spec = parseDropletCreate({
        names: ['lost-1', 'lost-2'],
        region: 'ams3',
        size: 's-1vcpu-1gb',
        image: 'ubuntu-24-04-x64',
      });
      const result = await runtime.actionStarter().create(spec, { key: 'lost-create' });
      expect(proxy.lost).toEqual(['POST /v2/droplets']);
      expect(posts() - before).toBe(1);
      expect(result).toMatchObject({ started: false, recovered: true, key: 'lost-create' });
      expect(result.droplets.map((droplet) => droplet.name)).toEqual(['lost-1', 'lost-2']);
      for (const { dropletId, actionId } of result.droplets) {
        const action = await stack.runtime.client().getDropletAction(dropletId, actionId);
        expect(action.type).toBe('create');
      }
      expect((await keys.get('lost-create'))?.record).toMatchObject({ state: 'created', tag: result.tag });
    } finally {
      await proxy.close();
    }
  });

  it('a 2xx whose body cannot be read is recovered by the tag too', async () => {
    stack.simulator.injectFault({ kind: 'truncated', method: 'POST', path: '^/v2/droplets$' });
    const before = posts();
    const result = await runCli(
      [...base, '--name', 'cut-1', '--image', 'ubuntu-24-04-x64', '--key', 'cut'],
      env,
    );
    expect(result.code).toBe(0);
    const [line] = lines<CreateLine>(result.stdout);
    expect(line).toMatchObject({ started: false, recovered: true, name: 'cut-1' });
    expect(posts() - before).toBe(1);
    expect((await stack.runtime.client().getDroplet(line?.dropletId as number)).name).toBe('cut-1');
  });

  it('an answer lost with nothing to find stops as probably started (exit 6), and its key never sends again', async () => {
    // The simulator drops a request whose client left during the delay: nothing is created, and
    // the client cannot tell that from a create that happened.
    stack.simulator.injectFault({ kind: 'delay', delayMs: 900, method: 'POST', path: '^/v2/droplets$' });
    const before = posts();
    const faultsBefore = stack.simulator.stats().faultsApplied;
    const args = [...base, '--name', 'maybe-1', '--image', 'ubuntu-24-04-x64', '--key', 'maybe'];
    const result = await runCli(args, env, undefined, 30_000);
    expect(result.code).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /may have been started .* does not show among the droplets tagged actionwatch:/,
    );
    expect((await keys.get('maybe'))?.record).toMatchObject({ state: 'unidentified', answered: false });
    const again = await runCli(args, env, undefined, 30_000);
    expect(again.code).toBe(6);
    // One POST went out, the delayed one (never answered, so not in byRoute), and none after it.
    expect(stack.simulator.stats().faultsApplied - faultsBefore).toBe(1);
    expect(posts() - before).toBe(0);
    await expect(
      stack.runtime.actionStarter().create(
        parseDropletCreate({
          names: ['maybe-1'],
          region: 'nyc3',
          size: 's-1vcpu-1gb',
          image: 'ubuntu-24-04-x64',
        }),
        { key: 'maybe' },
      ),
    ).rejects.toBeInstanceOf(ActionProbablyStartedError);
  });

  it('the library: createDroplets watches each create, and waitFor ends when the droplet is active', async () => {
    const watcher = ActionWatcher.fromRuntime(stack.runtime);
    const result = await watcher.createDroplets(
      { names: ['lib-1', 'lib-2'], region: 'sfo3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' },
      { key: 'lib-create', timeout: '1m' },
    );
    expect(result).toMatchObject({ started: true, recovered: false, key: 'lib-create' });
    const outcomes = await Promise.all(
      result.droplets.map((droplet) => watcher.waitFor(droplet.watch, { timeout: '15s' })),
    );
    expect(outcomes.map((outcome) => [outcome.outcome, outcome.action?.type])).toEqual([
      ['completed', 'create'],
      ['completed', 'create'],
    ]);
    for (const { dropletId } of result.droplets)
      expect((await stack.runtime.client().getDroplet(dropletId)).status).toBe('active');
    await expect(
      watcher.createDroplets({
        names: ['x'],
        region: 'sfo3',
        size: 's-1vcpu-1gb',
        image: 'ubuntu-24-04-x64',
        tags: ['no spaces'],
      }),
    ).rejects.toThrow(/create.tags: "no spaces" is not a tag name/);
  });

  const tooMany = Array.from({ length: 11 }, (_, i) => ['--name', `n-${i}`]).flat();
  it.concurrent.each([
    [['run', 'droplet', 'create', '--region', 'nyc3', '--size', 's', '--image', 'x'], /--name is required/],
    [['run', 'droplet', 'create', '--name', 'a', '--size', 's', '--image', 'x'], /--region is required/],
    [['run', 'droplet', 'create', '--name', 'a', '--region', 'nyc3', '--image', 'x'], /--size is required/],
    [['run', 'droplet', 'create', '--name', 'a', '--region', 'nyc3', '--size', 's'], /--image is required/],
    [[...base, '--image', 'x', '--name', 'bad_name!'], /--name: "bad_name!" is not a droplet name/],
    [[...base, '--image', 'x', '--name', 'a', '--name', 'a'], /--name: "a" is given twice/],
    [
      [...base, '--image', 'x', ...tooMany],
      /--name: DigitalOcean creates at most 10 droplets in one request \(got 11\)/,
    ],
    [[...base, '--image', 'x', '--name', 'a', '--ssh-key', 'nope'], /--ssh-key: "nope" is neither/],
    [[...base, '--image', 'x', '--name', 'a', '--tag', 'a b'], /--tag: "a b" is not a tag name/],
    [
      [...base, '--image', 'x', '--name', 'a', '--user-data-file', '/nonexistent/u'],
      /--user-data-file: cannot read "\/nonexistent\/u" \(ENOENT\)/,
    ],
    [[...base, '--image', 'x', '--name', 'a', '--param', 'x=1'], /--param is for droplet actions/],
    [[...base, '--image', 'x', '--name', 'a', 'extra'], /run droplet create takes flags, not "extra"/],
    [['run', 'droplet', '5', 'reboot', '--name', 'a'], /--name is for run droplet create/],
    [['run', 'droplet', '5'], /run needs the action type/],
  ])('refuses %j in one line, sending nothing', async (args, message) => {
    const before = posts();
    const result = await runCli(args, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(posts() - before).toBe(0);
  });

  it('accepts a user data file and an SSH key id', async () => {
    const dir = new TempDir('run-create');
    const file = dir.file('#cloud-config\nruncmd:\n  - touch /ok\n', 'cloud-init.yaml');
    const result = await runCli(
      [
        ...base,
        '--name',
        'ud-1',
        '--image',
        'ubuntu-24-04-x64',
        '--ssh-key',
        '289794',
        '--user-data-file',
        file,
      ],
      env,
    );
    dir.remove();
    expect(result.code).toBe(0);
    const [line] = lines<CreateLine>(result.stdout);
    expect(line?.name).toBe('ud-1');
  });
});
