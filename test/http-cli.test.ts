import { afterEach, describe, expect, it } from 'vitest';
import { exited, runCli, startCli } from './support/cli.js';
import { SIM_TOKEN, type Stack, startStack, until } from './support/stack.js';

const API_TOKEN = 'cli-suite-api-token-5555';

/** The URL a `serving … at http://…` log line names. */
async function servedUrl(output: () => string, what: RegExp): Promise<string> {
  return until(() => what.exec(output())?.[1], 15_000);
}

describe('actionwatch serve and worker --metrics-port (the built CLI)', () => {
  let stack: Stack;
  const children: Array<ReturnType<typeof startCli>> = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await stack?.close();
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return stack.processEnv(extra);
  }

  it('refuses to listen beyond loopback without API_TOKEN, before touching Redis', async () => {
    stack = await startStack({ name: 'cli-refuse' });
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      const result = await runCli(['serve', '--host', host, '--port', '0'], {
        ...env(),
        REDIS_URL: 'redis://127.0.0.1:1',
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`API_TOKEN is not set: refusing to listen on ${host}`);
    }
    const badPort = await runCli(['serve', '--port', 'http'], env());
    expect(badPort.code).toBe(1);
    expect(badPort.stderr).toMatch(/--port must be a port number/);
  });

  it('serves the API with a worker in the same process, and stops cleanly on SIGTERM', async () => {
    stack = await startStack({ name: 'cli-serve' });
    const child = startCli(['serve', '--port', '0', '--with-worker'], env({ API_TOKEN }));
    children.push(child);
    const base = await servedUrl(child.output, /serving the actionwatch API at (http:\/\/[^\s"]+)/);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    expect((await fetch(`${base}/v1/watches`)).status).toBe(401);
    const action = stack.simulator.createAction({ kind: 'droplet', resourceId: 3, durationMs: 300 });
    const headers = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/watches`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ kind: 'droplet', resourceId: 3, actionId: action.id }),
    });
    expect(created.status).toBe(201);
    const done = await fetch(`${base}/v1/watches/droplet-3-${action.id}/wait?timeout=20s`, { headers });
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ outcome: 'completed' });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
      /^actionwatch_polls_total\{result="completed"\} 1$/m,
    );
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    expect(child.output()).toContain('server stopped');
    expect(child.output()).not.toContain(API_TOKEN);
    expect(child.output()).not.toContain(SIM_TOKEN);
  });

  it('worker --metrics-port serves /metrics and /healthz', async () => {
    stack = await startStack({ name: 'cli-metrics' });
    const action = stack.simulator.createAction({ kind: 'image', resourceId: 4, durationMs: 200 });
    await stack.runtime.watches.watch({ kind: 'image', resourceId: 4, actionId: action.id });
    const child = startCli(['worker', '--metrics-port', '0'], env());
    children.push(child);
    const metricsUrl = await servedUrl(child.output, /serving metrics at (http:\/\/[^\s"]+\/metrics)/);
    await stack.runtime.waitForOutcome(`image-4-${action.id}`, { timeoutMs: 10_000 });
    const text = await until(async () => {
      const body = await (await fetch(metricsUrl)).text();
      return /^actionwatch_outcomes_total\{outcome="completed"\} 1$/m.test(body) ? body : undefined;
    });
    expect(text).toMatch(/^actionwatch_digitalocean_responses_total\{status="200"\} [1-9]/m);
    expect(text).toContain('process_resident_memory_bytes');
    const health = await fetch(metricsUrl.replace(/\/metrics$/, '/healthz'));
    expect(await health.json()).toEqual({ status: 'ok' });
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });
});
