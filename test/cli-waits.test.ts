import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, runCli, startCli } from './support/cli.js';
import { type Stack, startStack, until } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

const NO_WORKER = 'no actionwatch worker is running, so nothing moves this watch on';

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** The `actionwatch:` lines of stderr (logs are JSON lines beside them). */
function messages(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('actionwatch:'));
}

describe('waits that cannot end say so', () => {
  let stack: Stack;
  const temp = new TempDir('aw-waits');

  beforeAll(async () => {
    stack = await startStack({ name: 'cli-waits' });
  });

  afterAll(async () => {
    await stack.close();
    temp.remove();
  });

  describe('with --with-worker, a refused token ends the wait at once with exit 1', () => {
    it('wait', async () => {
      const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 31, durationMs: 600_000 });
      const result = await runCli(
        ['wait', 'droplet', '31', String(action.id), '--with-worker'],
        stack.processEnv({ DIGITALOCEAN_TOKEN: 'refused-token' }),
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(messages(result.stderr)).toEqual([
        'actionwatch: DigitalOcean refused DIGITALOCEAN_TOKEN (401): the worker in this process cannot poll, so this wait would never end; set a valid token (the watch is kept for a worker that has one)',
      ]);
      expect(await stack.runtime.watches.get(`droplet-31-${action.id}`)).toMatchObject({ state: 'waiting' });
    });

    it('run --wait, when the token is revoked after the start', async () => {
      stack.simulator.addToken('revoked-later');
      stack.simulator.ensureResource('droplet', 32);
      const run = runCli(
        ['run', 'droplet', '32', 'snapshot', '--param', 'name=s32', '--wait', '--with-worker'],
        stack.processEnv({ DIGITALOCEAN_TOKEN: 'revoked-later' }),
      );
      await until(async () => {
        const { watches } = await stack.runtime.watches.list({ state: 'waiting', limit: 10 });
        return watches.some((watch) => watch.resourceId === 32) || undefined;
      });
      stack.simulator.revokeToken('revoked-later');
      const result = await run;
      expect(result.code).toBe(1);
      expect(messages(result.stderr)).toEqual([
        expect.stringMatching(
          /^actionwatch: DigitalOcean refused DIGITALOCEAN_TOKEN \(401\): the worker in this process cannot poll/,
        ),
      ]);
    });

    it('chain --wait', async () => {
      const plan = temp.file(
        'name: refused\nsteps:\n  - id: reboot\n    run: { droplet: 33, type: reboot }\n',
        'plan.yaml',
      );
      const result = await runCli(
        ['chain', plan, '--wait', '--with-worker'],
        stack.processEnv({ DIGITALOCEAN_TOKEN: 'refused-token' }),
      );
      expect(result.code).toBe(1);
      expect(messages(result.stderr)).toEqual([
        'actionwatch: DigitalOcean refused DIGITALOCEAN_TOKEN (401): the worker in this process cannot start or poll actions, so this wait would never end; set a valid token (the chain is kept for a worker that has one)',
      ]);
    });
  });

  it('without a worker, wait says so once, keeps waiting, and ends when a worker comes', async () => {
    const action = stack.simulator.createAction({ kind: 'image', resourceId: 34, durationMs: 300 });
    const wait = startCli(['wait', 'image', '34', String(action.id)], stack.processEnv());
    await until(() => wait.output().includes(NO_WORKER) || undefined);
    const worker = startCli(['worker', '--concurrency', '2'], stack.processEnv());
    try {
      expect(await exited(wait)).toBe(0);
      expect(count(wait.output(), NO_WORKER)).toBe(1);
      expect(wait.output()).toContain('start one with `actionwatch worker`');
      expect(wait.output()).toContain(`"id":${action.id}`);
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
  });

  it('Ctrl-C says the watch goes on and exits 130; the watch is still waiting', async () => {
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 35, durationMs: 600_000 });
    const wait = startCli(['wait', 'droplet', '35', String(action.id)], stack.processEnv());
    await until(() => wait.output().includes(NO_WORKER) || undefined);
    wait.kill('SIGINT');
    expect(await exited(wait)).toBe(130);
    expect(wait.output()).toContain('actionwatch: interrupted; the watch goes on in the workers\n');
    expect(await stack.runtime.watches.get(`droplet-35-${action.id}`)).toMatchObject({ state: 'waiting' });
  });
});
