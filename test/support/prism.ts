import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OPENAPI_SPEC_PATH } from './digitalocean-fixtures.js';
import { freePort } from './free-port.js';

/**
 * Stoplight Prism (`@stoplight/prism-cli`), a third-party OpenAPI server, run on the vendored
 * DigitalOcean description: `proxy` forwards to an upstream and validates every request and
 * answer (`--errors`: a violation becomes a problem+json error, a request one 422, an answer one
 * 500, and `sl-violations` lists them); `mock` answers from the schemas (`-d`: random values).
 *
 * Pinned to 5.14.2 (with prism-core/http/http-server overridden to the releases it was built with,
 * see package.json): later releases declare `engines.node >=24.14`, and `npm install` on Node 20.19
 * must not warn. It runs under the Node that runs the tests, so the suite exercises it on both
 * Node versions CI uses. 5.14.2 does not depend on @scarf/scarf (install analytics); the child
 * gets SCARF_ANALYTICS=false anyway, in case a refresh brings it back.
 */

const require = createRequire(import.meta.url);

function prismEntry(): string {
  const manifest = require.resolve('@stoplight/prism-cli/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: { prism: string } };
  return join(dirname(manifest), bin.prism);
}

export class Prism {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly log: () => string,
  ) {}

  /** A validating proxy in front of `upstream`. */
  static proxy(upstream: string): Promise<Prism> {
    return Prism.start(['proxy', OPENAPI_SPEC_PATH, upstream, '--errors']);
  }

  /** A mock that answers with random values valid under the schemas. */
  static mock(): Promise<Prism> {
    return Prism.start(['mock', OPENAPI_SPEC_PATH, '--dynamic']);
  }

  private static async start(args: string[]): Promise<Prism> {
    // A port another process takes between our probe and Prism's listen is retried on another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [prismEntry(), ...args, '--host', '127.0.0.1', '--port', String(port), '--multiprocess=false'],
        { env: { ...process.env, SCARF_ANALYTICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: 'pipe' },
      );
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const url = `http://127.0.0.1:${port}`;
      const started = await new Promise<boolean>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`prism ${args[0]} did not start within 60 s:\n${output}`));
        }, 60_000);
        const listening = () => {
          if (!output.includes('Prism is listening')) return;
          clearTimeout(timer);
          child.stdout?.off('data', listening);
          resolve(true);
        };
        child.stdout?.on('data', listening);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (started) {
        // Should the test process end without close(), Prism goes with it.
        const stop = () => child.kill('SIGKILL');
        process.once('exit', stop);
        child.once('exit', () => process.off('exit', stop));
        return new Prism(child, url, () => output);
      }
      if (!/EADDRINUSE/.test(output) || attempt === 3) {
        throw new Error(`prism ${args[0]} exited before listening:\n${output}`);
      }
    }
  }

  /** What Prism printed so far (its own log of each request and every violation it found). */
  output(): string {
    return this.log();
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
