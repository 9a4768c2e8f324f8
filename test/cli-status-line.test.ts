import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from './support/cli.js';
import { type Stack, startStack } from './support/stack.js';

/** util-linux `script` runs a command on a pseudo-terminal: stderr and stdout are then a TTY. */
const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** What the terminal shows after the status was last erased: the result, and nothing of the status. */
function afterLastErase(output: string): string {
  const erase = output.lastIndexOf('\x1b[2K');
  expect(erase).toBeGreaterThan(0);
  return output.slice(erase + '\x1b[2K'.length);
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Runs the built CLI on a pseudo-terminal; returns everything the terminal was sent. */
function runOnTerminal(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  // A fresh pseudo-terminal has no size (0 columns): give it one wide enough for a whole line.
  const command = `stty cols 200 rows 40; exec ${[process.execPath, CLI, ...args].map(shellQuote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', COLUMNS: '200', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`actionwatch ${args.join(' ')} did not exit within ${timeoutMs} ms\n${output}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the live status line of wait and chain --wait', () => {
  let stack: Stack;
  let env: Record<string, string>;
  let nextResource = 900;

  beforeAll(async () => {
    // Long enough for a status line to be drawn; short enough to keep the tests quick.
    stack = await startStack({ name: 'cli-status', simulator: { defaultDurationMs: 2_500 } });
    // A webhook secret set: the worker's warning about it would be on stderr otherwise.
    env = stack.processEnv({ OBSERVE_MODE: 'direct', WEBHOOK_SECRET: 'whsec_c2VjcmV0' });
  });

  afterAll(async () => {
    await stack?.close();
  });

  const action = (durationMs: number) => {
    nextResource += 1;
    return stack.simulator.createAction({ kind: 'droplet', resourceId: nextResource, durationMs });
  };

  it('wait writes nothing extra when stderr is not a terminal', async () => {
    const started = action(1_500);
    const result = await runCli(
      ['wait', 'droplet', String(started.resource_id), String(started.id), '--with-worker'],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toMatchObject({ id: started.id, status: 'completed' });
  });

  it('chain --wait writes nothing extra when stderr is not a terminal', async () => {
    nextResource += 1;
    const plan = JSON.stringify({
      steps: [{ id: 'reboot', run: { droplet: nextResource, type: 'reboot' } }],
    });
    const result = await runCli(['chain', '-', '--wait', '--with-worker'], env, plan);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'completed' });
  });

  it.skipIf(!HAS_SCRIPT)(
    'wait on a terminal draws elapsed, eta and polls, and erases them before the result',
    async () => {
      const started = action(4_000);
      const { code, output } = await runOnTerminal(
        ['wait', 'droplet', String(started.resource_id), String(started.id), '--with-worker'],
        env,
      );
      expect(code).toBe(0);
      const id = `droplet-${started.resource_id}-${started.id}`;
      expect(output).toMatch(
        new RegExp(
          `${id}( reboot)?  (not polled yet|in-progress)  elapsed \\d+s  polls \\d+  eta ~\\S+ \\(default\\)`,
        ),
      );
      // The status is erased, then the result printed.
      const after = afterLastErase(output);
      expect(after.startsWith(`{"id":${started.id},`)).toBe(true);
      expect(after).toContain('"status":"completed"');
      expect(after).not.toContain('elapsed');

      // --quiet: no progress lines, the status line included.
      const quiet = action(1_500);
      const silent = await runOnTerminal(
        ['wait', 'droplet', String(quiet.resource_id), String(quiet.id), '--with-worker', '--quiet'],
        env,
      );
      expect(silent.code).toBe(0);
      expect(silent.output).not.toContain('elapsed');
      expect(silent.output).not.toContain('\x1b[2K');
      expect(silent.output).toContain(`{"id":${quiet.id},`);
    },
  );

  it.skipIf(!HAS_SCRIPT)(
    'chain --wait on a terminal draws the chain and a line per running step',
    async () => {
      nextResource += 1;
      const plan = {
        name: 'status-check',
        steps: [{ id: 'reboot', run: { droplet: nextResource, type: 'reboot' } }],
      };
      const file = `${process.env.TMPDIR ?? '/tmp'}/actionwatch-status-${process.pid}.json`;
      const { writeFile, rm } = await import('node:fs/promises');
      await writeFile(file, JSON.stringify(plan));
      try {
        const { code, output } = await runOnTerminal(['chain', file, '--wait', '--with-worker'], env);
        expect(code).toBe(0);
        expect(output).toMatch(/chain status-check {2}running {2}steps 0\/1 done {2}elapsed \d+s/);
        expect(output).toMatch(/ {2}reboot: /);
        const after = afterLastErase(output);
        expect(after.startsWith('{')).toBe(true);
        expect(after).toContain('"outcome":"completed"');
        expect(after).not.toContain('elapsed');
      } finally {
        await rm(file, { force: true });
      }
    },
  );
});
