import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionWatcher } from '../src/library/action-watcher.js';
import { exited, expectOneLineFailure, runCli, startCli } from './support/cli.js';
import { type Stack, startStack, until } from './support/stack.js';

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A table's rows as arrays of cells (columns are two or more spaces apart). */
function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/ {2,}/));
}

describe('actionwatch show, events, --output table, --log-level and --quiet', () => {
  let stack: Stack;
  let env: Record<string, string>;
  const globalHook = 'https://hooks.example.com/services/T000/B000/capability-in-the-path';
  const watchHook = 'http://127.0.0.1:9/hook/another-capability?token=abc';

  /** Starts an action in the simulator and watches it through the CLI; returns the watch id. */
  const watchOne = async (resourceId: number, result: 'completed' | 'errored' = 'completed') => {
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId, durationMs: 300, result });
    const watched = await runCli(
      ['watch', 'droplet', String(resourceId), String(action.id), '--webhook', watchHook, '--on', 'errored'],
      env,
    );
    expect(watched.stderr).toBe('');
    return { id: String(jsonLines(watched.stdout)[0]?.id), action };
  };
  let workerStarted: Promise<unknown> | undefined;
  const startWorker = () => {
    workerStarted ??= stack.runtime.startWorker({ observeMode: 'direct', webhooks: false });
    return workerStarted;
  };
  const outcomeOf = (id: string) =>
    until(async () => (await stack.runtime.watches.get(id))?.state === 'done' || undefined);

  beforeAll(async () => {
    stack = await startStack({ name: 'cli-inspect' });
    env = stack.processEnv({ WEBHOOK_URL: globalHook, WEBHOOK_ALLOW_PRIVATE: 'true' });
  });

  afterAll(async () => {
    await stack.close();
  });

  describe('show', () => {
    it('prints one watch with its webhook targets as origins, waiting and then ended', async () => {
      const { id, action } = await watchOne(501);
      const waiting = await runCli(['show', id], env);
      expect(waiting.code).toBe(0);
      const shown = jsonLines(waiting.stdout);
      expect(shown).toHaveLength(1);
      expect(shown[0]).toMatchObject({ id, state: 'waiting', outcome: null, actionId: action.id });
      expect(shown[0]?.webhooks).toEqual([
        { source: 'global', origin: 'https://hooks.example.com', on: 'all' },
        { source: 'watch', origin: 'http://127.0.0.1:9', on: ['errored'] },
      ]);
      expect(waiting.stdout).not.toMatch(/capability|token=abc/);

      await startWorker();
      await outcomeOf(id);
      const done = await runCli(['show', id], env);
      expect(jsonLines(done.stdout)[0]).toMatchObject({
        id,
        state: 'done',
        outcome: 'completed',
        action: { id: action.id, status: 'completed' },
        webhooks: [{ source: 'global' }, { source: 'watch', origin: 'http://127.0.0.1:9' }],
      });

      const table = await runCli(['show', id, '--output', 'table'], env);
      expect(table.code).toBe(0);
      const rows = tableRows(table.stdout);
      expect(rows[0]).toEqual(['FIELD', 'VALUE']);
      expect(rows).toContainEqual(['outcome', 'completed']);
      expect(rows).toContainEqual(['webhook', 'http://127.0.0.1:9 (watch; on errored)']);
      expect(table.stdout).not.toMatch(/capability|token=abc/);
    });

    it.each([
      [['show', 'droplet-1-999999'], /^actionwatch: no watch with id droplet-1-999999$/],
      [['show', 'nope'], /^actionwatch: watch id must look like/],
      [['show', 'droplet-1-2', '--output', 'yaml'], /argument 'yaml' is invalid/],
    ])('%j fails with one line', async (args, message) => {
      expectOneLineFailure(await runCli(args, env), message);
    });
  });

  describe('--output table', () => {
    it('list, actions and chains list print aligned tables with a header; JSON stays the default', async () => {
      const { id } = await watchOne(502);
      const json = await runCli(['list'], env);
      expect(jsonLines(json.stdout).map((watch) => watch.id)).toContain(id);

      const list = tableRows((await runCli(['list', '--output', 'table'], env)).stdout);
      expect(list[0]).toEqual([
        'ID',
        'STATE',
        'OUTCOME',
        'STATUS',
        'TYPE',
        'POLLS',
        'ETA',
        'ENQUEUED',
        'FINISHED',
      ]);
      expect(list.slice(1).map((row) => row[0])).toContain(id);
      expect(list.slice(1).every((row) => row.length === list[0]?.length)).toBe(true);

      const actions = tableRows(
        (await runCli(['actions', 'droplet', '502', '--output', 'table'], env)).stdout,
      );
      expect(actions[0]).toEqual(['ID', 'STATUS', 'TYPE', 'REGION', 'STARTED', 'COMPLETED']);
      expect(actions).toHaveLength(2);
      expect(actions[1]?.[3]).toBe('nyc3');

      const chain = await ActionWatcher.fromRuntime(stack.runtime).chain(
        { name: 'table-check', steps: [{ id: 'reboot', run: { droplet: 503, type: 'reboot' } }] },
        { key: 'table-check' },
      );
      const chains = tableRows((await runCli(['chains', 'list', '--output', 'table'], env)).stdout);
      expect(chains[0]).toEqual(['ID', 'NAME', 'STATE', 'OUTCOME', 'STEP', 'STEPS', 'CREATED', 'FINISHED']);
      expect(
        chains
          .slice(1)
          .find((row) => row[0] === chain.id)
          ?.slice(1, 6),
      ).toEqual(['table-check', 'running', '-', 'reboot', '1']);
    });
  });

  describe('events', () => {
    let ok: { id: string };
    let bad: { id: string };
    let chainId: string;
    /** What `actionwatch events` printed once the outcomes above were in. */
    let events: Array<Record<string, unknown>>;
    /**
     * Other tests' watches and chains may still append while these run: the stream only grows at
     * its end, so each later read starts with what an earlier one printed.
     */
    const startsWith = (later: Array<Record<string, unknown>>, earlier: Array<Record<string, unknown>>) =>
      expect(later.slice(0, earlier.length).map((event) => event.id)).toEqual(
        earlier.map((event) => event.id),
      );

    beforeAll(async () => {
      ok = await watchOne(511, 'completed');
      bad = await watchOne(512, 'errored');
      await startWorker();
      await stack.runtime.startChainWorker();
      const chain = await ActionWatcher.fromRuntime(stack.runtime).chain(
        { name: 'events-check', steps: [{ id: 'reboot', run: { droplet: 513, type: 'reboot' } }] },
        { key: 'events-check' },
      );
      chainId = chain.id;
      await outcomeOf(ok.id);
      await outcomeOf(bad.id);
      await until(async () => (await stack.runtime.chains().get(chainId))?.state === 'done' || undefined);
      const all = await runCli(['events'], env);
      expect(all.code).toBe(0);
      expect(all.stdout).not.toMatch(/capability|token=abc/);
      events = jsonLines(all.stdout);
    });

    it('prints watch and chain outcomes as JSON Lines, each with its stream id', () => {
      const mine = events.filter((event) =>
        [ok.id, bad.id].includes(String((event.watch as { id: string } | undefined)?.id)),
      );
      expect(mine.map((event) => event.type).sort()).toEqual(['action.completed', 'action.errored']);
      for (const event of events) expect(event.id).toMatch(/^\d+-\d+$/);
      const chainEvents = events.filter(
        (event) => (event.chain as { id: string } | undefined)?.id === chainId,
      );
      expect(chainEvents).toHaveLength(1);
      expect(chainEvents[0]).toMatchObject({
        type: 'chain.completed',
        outcome: 'completed',
        chain: { id: chainId, name: 'events-check' },
      });
    });

    it('--since resumes right after the given id', async () => {
      const first = events[0] as { id: string };
      const resumed = jsonLines((await runCli(['events', '--since', first.id], env)).stdout);
      startsWith(resumed, events.slice(1));
    });

    it('--type filters by event type or outcome, repeated or comma-separated', async () => {
      const errored = jsonLines((await runCli(['events', '--type', 'errored'], env)).stdout);
      expect(errored.length).toBeGreaterThan(0);
      expect(errored.every((event) => event.type === 'action.errored')).toBe(true);
      const wanted = ['action.errored', 'action.completed', 'chain.failed'];
      const both = jsonLines(
        (await runCli(['events', '--type', 'action.errored', '--type', 'action.completed,chain.failed'], env))
          .stdout,
      );
      expect(both.every((event) => wanted.includes(String(event.type)))).toBe(true);
      startsWith(
        both,
        events.filter((event) => wanted.includes(String(event.type))),
      );
    });

    it('--follow prints events as they come until Ctrl-C, then exits 0', async () => {
      await startWorker();
      const earlier = jsonLines((await runCli(['events', '--type', 'action.completed'], env)).stdout);
      const follower = startCli(['events', '--follow', '--type', 'action.completed'], {
        ...env,
        LOG_LEVEL: 'warn',
      });
      // Blocked in XREAD: its starting point is fixed.
      await until(async () =>
        String(await stack.runtime.redis.client('LIST'))
          .split('\n')
          .some((client) => client.includes(`name=${stack.prefix}:client`) && client.includes('cmd=xread')),
      );
      const { id } = await watchOne(521, 'completed');
      const watchIdOf = (event: Record<string, unknown>) => (event.watch as { id: string }).id;
      const line = await until(() => jsonLines(follower.output()).find((event) => watchIdOf(event) === id));
      expect(line).toMatchObject({ type: 'action.completed', outcome: 'completed' });
      // --follow without --since starts at the end: what the stream held before is not printed.
      const printed = jsonLines(follower.output());
      expect(printed.every((event) => event.type === 'action.completed')).toBe(true);
      expect(earlier.length).toBeGreaterThan(0);
      for (const event of earlier) expect(printed.map((seen) => seen.id)).not.toContain(event.id);
      follower.kill('SIGINT');
      expect(await exited(follower)).toBe(0);
    });

    it.each([
      [['events', '--type', 'action.done'], /--type must list event types among action\.completed/],
      [['events', '--since', 'yesterday'], /--since must be an event id/],
    ])('%j fails with one line', async (args, message) => {
      expectOneLineFailure(await runCli(args, env), message);
    });
  });

  describe('--log-level and --quiet, on every command', () => {
    it('override LOG_LEVEL for the run; --quiet leaves errors only', async () => {
      stack.simulator.createAction({ kind: 'droplet', resourceId: 531, durationMs: 60_000 });
      const args = ['watch', 'droplet', '531', '--in-progress'];
      const silentByEnv = await runCli(args, { ...env, LOG_LEVEL: 'error' });
      expect(silentByEnv.stderr).toBe('');
      const loud = await runCli([...args, '--log-level', 'info'], { ...env, LOG_LEVEL: 'error' });
      expect(loud.stderr).toMatch(/now watched/);
      const loudFirst = await runCli(['--log-level', 'info', ...args], { ...env, LOG_LEVEL: 'error' });
      expect(loudFirst.stderr).toMatch(/now watched/);
      const quiet = await runCli([...args, '--quiet'], { ...env, LOG_LEVEL: 'info' });
      expect(quiet.code).toBe(0);
      expect(quiet.stderr).toBe('');
      expect(jsonLines(quiet.stdout)).toHaveLength(1);
    });

    it('--quiet leaves out progress on stderr too (sim: its listening banner)', async () => {
      for (const quiet of [false, true]) {
        const sim = startCli(['sim', '--port', '0', ...(quiet ? ['--quiet'] : [])], { LOG_LEVEL: 'info' });
        // Its output is stdout and stderr together: the JSON line, then (unless quiet) the banner.
        const started = await until(() => /^\{.*\}$/m.exec(sim.output())?.[0]).then(
          (line) => JSON.parse(line) as { url: string },
        );
        expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        sim.kill('SIGINT');
        expect(await exited(sim)).toBe(0);
        if (quiet) expect(sim.output().trim().split('\n')).toHaveLength(1);
        else expect(sim.output()).toMatch(/simulator listening on/);
      }
    });

    it('sim --delete-delay keeps a deleted droplet answering until the delay passes; --type-duration sets a type', async () => {
      const sim = startCli(
        ['sim', '--port', '0', '--quiet', '--delete-delay', '700', '--type-duration', 'create=400'],
        {},
      );
      try {
        const { url } = await until(() => /^\{.*\}$/m.exec(sim.output())?.[0]).then(
          (line) => JSON.parse(line) as { url: string },
        );
        const call = async (method: string, path: string, body?: unknown) => {
          const response = await fetch(`${url}${path}`, {
            method,
            headers: { authorization: 'Bearer sim-token', 'content-type': 'application/json' },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          return { status: response.status, body: (await response.text()) || '{}' };
        };
        const created = JSON.parse(
          (
            await call('POST', '/v2/droplets', {
              name: 'web-1',
              region: 'nyc3',
              size: 's-1vcpu-1gb',
              image: 'ubuntu-24-04-x64',
            })
          ).body,
        ) as { droplet: { id: number }; links: { actions: Array<{ id: number }> } };
        const actionId = created.links.actions[0]?.id;
        const action = async () =>
          (JSON.parse((await call('GET', `/v2/actions/${actionId}`)).body) as { action: { status: string } })
            .action.status;
        expect(await action()).toBe('in-progress');
        await until(async () => ((await action()) === 'completed' ? true : undefined), 5_000);

        const dropletPath = `/v2/droplets/${created.droplet.id}`;
        expect((await call('DELETE', dropletPath)).status).toBe(204);
        const deletedAt = Date.now();
        expect((await call('GET', dropletPath)).status).toBe(200);
        await until(async () => ((await call('GET', dropletPath)).status === 404 ? true : undefined), 5_000);
        expect(Date.now() - deletedAt).toBeGreaterThanOrEqual(600);
      } finally {
        sim.kill('SIGINT');
        await exited(sim);
      }
    });

    it("sim starts with the README examples' droplet, reserved IP and volume; --no-examples without", async () => {
      const paths = [
        '/v2/droplets/3164444',
        '/v2/reserved_ips/203.0.113.7',
        '/v2/volumes/7724db7c-e098-11e5-b522-000f53304e51',
      ];
      for (const examples of [true, false]) {
        const sim = startCli(['sim', '--port', '0', '--quiet', ...(examples ? [] : ['--no-examples'])], {});
        try {
          const { url } = await until(() => /^\{.*\}$/m.exec(sim.output())?.[0]).then(
            (line) => JSON.parse(line) as { url: string },
          );
          const statuses = await Promise.all(
            paths.map(
              async (path) =>
                (await fetch(`${url}${path}`, { headers: { authorization: 'Bearer sim-token' } })).status,
            ),
          );
          expect(statuses).toEqual(examples ? [200, 200, 200] : [404, 404, 404]);
        } finally {
          sim.kill('SIGINT');
          await exited(sim);
        }
      }
    });

    it.each([
      [['sim', '--delete-delay', 'soon'], /--delete-delay must be a whole number, 0 or more/],
      [['sim', '--type-duration', 'create'], /--type-duration must look like <action type>=<ms>/],
    ])('%j fails with one line naming the flag', async (args, message) => {
      expectOneLineFailure(await runCli(args, {}), message);
    });

    it.each([
      [
        ['list', '--log-level', 'loud'],
        /argument 'loud' is invalid.*fatal, error, warn, info, debug, trace, silent/,
      ],
      [['--log-level', 'loud', 'show', 'droplet-1-2'], /argument 'loud' is invalid/],
      [['list', '--quiet', '--log-level', 'debug'], /cannot be used with/],
    ])('%j fails with one line', async (args, message) => {
      expectOneLineFailure(await runCli(args, env), message);
    });
  });
});
