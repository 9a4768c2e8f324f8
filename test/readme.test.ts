import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainOutcomeRecord } from '../src/chains/chain.js';
import { buildProgram } from '../src/cli/program.js';
import { Secret } from '../src/config/secret.js';
import { renderChainBody } from '../src/notifications/webhooks/chain-webhook-message.js';
import { renderBody } from '../src/notifications/webhooks/webhook-message.js';
import { WebhookSigner } from '../src/notifications/webhooks/webhook-signer.js';
import { createRedis, deleteKeysWithPrefix } from '../src/support/redis.js';
import type { OutcomeRecord } from '../src/watches/watch.js';
import { CLI } from './support/cli.js';
import { freePort } from './support/free-port.js';
import {
  promisedEchoes,
  type RunnableBlock,
  runnableBlocks,
  shellSession,
} from './support/runnable-blocks.js';
import { REDIS_ENV, REDIS_TARGET, startStack, testPrefix, until } from './support/stack.js';
import { TempDir } from './support/temp-dir.js';

/**
 * The README's examples marked `<!-- runnable -->` run as written (see its Development section):
 * shell blocks as one terminal session against the simulator, TypeScript blocks type-checked
 * against the packed package, the webhook receiver also run.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const BLOCKS = runnableBlocks(README);
const run = promisify(execFile);
const temp = new TempDir('readme');
const NPM_QUIET = {
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
  npm_config_prefer_offline: 'true',
  npm_config_loglevel: 'error',
  // A registry fetch that stalls is retried rather than holding the install (and the test) open.
  npm_config_fetch_timeout: '30000',
  npm_config_fetch_retries: '4',
};

/**
 * How this machine reaches the registry (a proxy, a private CA): a reader's terminal has these, and
 * without them `npm install` of the package fails its TLS handshakes on a machine behind such a
 * proxy once its npm cache lacks a dependency's metadata (a fresh machine).
 */
const REGISTRY_ACCESS =
  /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|https?_proxy|no_proxy|npm_config_(registry|cafile|ca|proxy|https_proxy|noproxy|strict_ssl))$/i;

function registryAccessEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => REGISTRY_ACCESS.test(entry[0]) && entry[1] !== undefined,
    ),
  );
}

function blocksOf(lang: string): RunnableBlock[] {
  return BLOCKS.filter((block) => block.lang === lang && block.file === undefined);
}

function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a session's process group (the simulator and worker it left running) and waits for it. */
async function stopGroup(pgid: number): Promise<void> {
  if (!processGroupAlive(pgid)) return;
  process.kill(-pgid, 'SIGTERM');
  await until(() => !processGroupAlive(pgid) || undefined, 15_000, 100).catch(() => {
    if (processGroupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  });
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess, timeoutMs: number, onTimeout: () => void): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(onTimeout, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A project using the packed package, as `npm install ./actionwatch-*.tgz` would give it. It lies
 * under the repository's node_modules so that the package's dependencies, standardwebhooks and
 * @types/node resolve there: the package itself comes from the tarball alone (its files, exports
 * and declarations), without a second install of every dependency (the shell session does one).
 */
const typescriptProject = (() => {
  let built: Promise<{ dir: string; tsc: Exit }> | undefined;
  return () => {
    built ??= (async () => {
      const dir = join(ROOT, 'node_modules', '.cache', `readme-examples-${process.pid}`);
      const packageDir = join(dir, 'node_modules', 'actionwatch');
      mkdirSync(packageDir, { recursive: true });
      const env = { ...process.env, ...NPM_QUIET, npm_config_ignore_scripts: 'true' };
      const { stdout } = await run('npm', ['pack', '--pack-destination', temp.path, '--silent'], {
        cwd: ROOT,
        env,
      });
      const tarball = join(temp.path, stdout.trim().split('\n').pop() as string);
      await run('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1']);
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-examples', type: 'module' }));
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: true,
            types: ['node'],
            outDir: 'out',
          },
          include: ['*.ts'],
        }),
      );
      for (const block of blocksOf('ts'))
        writeFileSync(join(dir, `example-line-${block.line}.ts`), block.code);
      const tsc = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { dir, tsc: await collect(tsc, 120_000, () => tsc.kill('SIGKILL')) };
    })();
    return built;
  };
})();

/** The compiled TypeScript example that contains `text`, and the project to run it in. */
async function compiledExample(text: string): Promise<{ dir: string; script: string }> {
  const { dir } = await typescriptProject();
  const example = blocksOf('ts').find((block) => block.code.includes(text));
  const script = join(dir, 'out', `example-line-${example?.line}.js`);
  expect(existsSync(script), `a compiled TypeScript example containing ${text}`).toBe(true);
  return { dir, script };
}

// Packing and installing for the TypeScript examples overlaps the shell session, which mostly waits.
beforeAll(() => {
  typescriptProject().catch(() => {}); // the tests that use it report its failure
});
afterAll(async () => {
  temp.remove();
  const project = await typescriptProject().catch(() => undefined);
  if (project !== undefined) rmSync(project.dir, { recursive: true, force: true });
}, 60_000);

describe('README', () => {
  it('marks its install, simulator, chain and library examples runnable', () => {
    const shell = blocksOf('sh').map((block) => block.code);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(shell.some((code) => code.includes(`npm install -g ./actionwatch-${version}.tgz`))).toBe(true);
    expect(shell.some((code) => code.includes('actionwatch sim --port 4010'))).toBe(true);
    expect(shell.some((code) => code.includes('actionwatch chain deploy.yaml'))).toBe(true);
    expect(BLOCKS.some((block) => block.file === 'deploy.yaml')).toBe(true);
    const typescript = blocksOf('ts').map((block) => block.code);
    expect(typescript.some((code) => code.includes("from 'actionwatch'"))).toBe(true);
    expect(typescript.some((code) => code.includes("from 'standardwebhooks'"))).toBe(true);
    for (const block of BLOCKS) expect(['sh', 'ts', 'yaml', 'json']).toContain(block.lang);
  });

  it('documents every command and every option', () => {
    const missing: string[] = [];
    const visit = (command: Command, path: string[]) => {
      for (const sub of command.commands) {
        if (sub.name() === 'help') continue;
        const names = [...path, sub.name()];
        if (!README.includes(names.join(' '))) missing.push(`command ${names.join(' ')}`);
        for (const option of sub.options) {
          const flag = option.long;
          if (flag === undefined || flag === '--help') continue;
          const escaped = flag.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&');
          if (!new RegExp(`${escaped}(?![\\w-])`).test(README)) missing.push(`${names.join(' ')} ${flag}`);
        }
        visit(sub, names);
      }
    };
    visit(buildProgram(), ['actionwatch']);
    expect(missing).toEqual([]);
  });

  it('shell examples run as written, in one terminal session, against the simulator', async () => {
    expect(existsSync(CLI)).toBe(true); // npm pack below packs the built dist/ (npm test builds it)
    const tools = ['curl', 'redis-cli'];
    const missingTools = tools.filter((tool) => spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0);
    expect(missingTools, 'the examples use these (Debian: apt-get install curl redis-tools)').toEqual([]);
    const port = await freePort();
    const prefix = testPrefix('readme');
    const global = join(temp.path, 'global');
    const tmp = join(temp.path, 'tmp');
    mkdirSync(tmp);
    const tarballsBefore = new Set(readdirSync(ROOT).filter((name) => name.endsWith('.tgz')));
    // The one change to the text: the simulator's port 4010 becomes a free one, so runs beside
    // other test runs (or a simulator of your own) do not collide. The rest is the environment a
    // reader has in the clone.
    const script = shellSession(BLOCKS).replace(/\b4010\b/g, String(port));
    const sessionFile = join(temp.path, 'session.sh');
    writeFileSync(sessionFile, script);
    const session = spawn('bash', [sessionFile], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...registryAccessEnv(),
        PATH: `${join(global, 'bin')}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? temp.path,
        TMPDIR: tmp,
        ...REDIS_ENV,
        ACTIONWATCH_PREFIX: prefix,
        // Global installs go to a private prefix; dist/ is built already, and rebuilding it here
        // would race the other test files that run the CLI.
        npm_config_prefix: global,
        npm_config_ignore_scripts: 'true',
        ...NPM_QUIET,
      },
    });
    const pgid = session.pid as number;
    // The simulator and worker the session leaves running hold its output open: stop them once it
    // ends, and the output closes.
    session.once('exit', () => void stopGroup(pgid));
    let result: Exit;
    try {
      // Generous: it packs and installs the package; on a loaded machine that alone takes minutes.
      result = await collect(session, 300_000, () => process.kill(-pgid, 'SIGKILL'));
    } finally {
      await stopGroup(pgid);
      for (const name of readdirSync(ROOT)) {
        if (name.endsWith('.tgz') && !tarballsBefore.has(name)) rmSync(join(ROOT, name));
      }
      const redis = createRedis(REDIS_TARGET);
      await deleteKeysWithPrefix(redis, prefix);
      await deleteKeysWithPrefix(redis, `try-${pgid}`);
      redis.disconnect();
    }
    const logs = readdirSync(tmp)
      .map((dir) => join(tmp, dir, 'worker.log'))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file, 'utf8').split('\n').slice(-15).join('\n'));
    const explain = `stdout:\n${result.stdout.slice(-3000)}\nstderr:\n${result.stderr.slice(-4000)}\nworker.log:\n${logs.join('\n')}`;
    expect(result.code, explain).toBe(0);
    for (const block of blocksOf('sh')) {
      for (const echo of promisedEchoes(block.code)) expect(result.stdout, explain).toContain(echo);
    }
  }, 330_000);

  it('TypeScript examples type-check (strict) against the packed package', async () => {
    const { tsc } = await typescriptProject();
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  }, 180_000);

  it('the library example runs against the simulator: an action, the deploy chain, the notification', async () => {
    const { dir, script } = await compiledExample("from 'actionwatch'");
    const notifications: string[] = [];
    const slack = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        notifications.push(body);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', resolve));
    const stack = await startStack({ name: 'readme-library', simulator: { defaultDurationMs: 1000 } });
    try {
      const { port } = slack.address() as { port: number };
      const child = spawn(process.execPath, [script], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          LOG_LEVEL: 'warn',
          ...stack.processEnv({ SLACK_URL: `http://127.0.0.1:${port}/` }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const { code, stdout, stderr } = await collect(child, 90_000, () => child.kill('SIGKILL'));
      expect(code, stderr).toBe(0);
      expect(stdout).toBe('completed completed\n');
      expect(notifications.map((body) => JSON.parse(body))).toEqual([{ text: 'release-42: completed' }]);
    } finally {
      await stack.close();
      slack.close();
    }
  }, 120_000);

  it('the webhook receiver verifies action and chain events, refuses bad signatures, prints each once', async () => {
    const { dir, script } = await compiledExample("from 'standardwebhooks'");
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const port = await freePort();
    const child = spawn(process.execPath, [script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', WEBHOOK_SECRET: secret, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exit = collect(child, 60_000, () => child.kill('SIGKILL'));
    try {
      const signer = new WebhookSigner(new Secret(secret));
      const post = async (id: string, body: string, signWith = signer) => {
        const response = await fetch(`http://127.0.0.1:${port}/webhooks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signWith.headers(id, body) },
          body,
        });
        return response.status;
      };
      const finishedAt = new Date().toISOString();
      const action: OutcomeRecord = {
        type: 'action.completed',
        outcome: 'completed',
        watch: {
          id: 'image-7555620-100000001',
          kind: 'image',
          resourceId: 7555620,
          actionId: 100000001,
          enqueuedAt: finishedAt,
          finishedAt,
          polls: 2,
        },
        action: null,
      };
      const chain: ChainOutcomeRecord = {
        type: 'chain.failed',
        outcome: 'errored',
        chain: { id: 'chain-release-42', name: 'release-42', createdAt: finishedAt, finishedAt },
        steps: [],
        failedStep: 'snapshot',
        reason: 'the snapshot errored',
      };
      const listening = () =>
        fetch(`http://127.0.0.1:${port}/`, { method: 'POST' }).then(
          (response) => response.status === 401 || undefined,
          () => undefined,
        );
      await until(listening);
      expect(await post('msg_action', renderBody(action, 'json'))).toBe(204);
      expect(await post('msg_chain', renderChainBody(chain, 'json'))).toBe(204);
      expect(await post('msg_chain', renderChainBody(chain, 'json'))).toBe(204);
      const forged = new WebhookSigner(new Secret('whsec_QmFkU2VjcmV0QmFkU2VjcmV0QmFkU2VjcmV0'));
      expect(await post('msg_forged', renderBody(action, 'json'), forged)).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    const { stdout, stderr } = await exit;
    expect(stderr).toBe('');
    expect(stdout).toBe('action.completed image-7555620-100000001\nchain.failed chain-release-42\n');
  }, 180_000);
});
