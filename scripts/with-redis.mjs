#!/usr/bin/env node
// Runs a command with a Redis that answers. Uses REDIS_URL (default redis://127.0.0.1:6379) when
// something answers there; otherwise, if nothing answers at the default address and redis-server
// is on PATH, starts a private one in a temporary directory and stops it afterwards. Sentinel,
// Cluster and TLS settings are passed through as they are.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DEFAULT_URL = 'redis://127.0.0.1:6379';

function ping(url, timeoutMs = 1500) {
  return new Promise((resolve) => {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      resolve(false);
      return;
    }
    if (parsed.protocol !== 'redis:') {
      resolve(true); // TLS or other schemes: let the program itself judge
      return;
    }
    const socket = net.connect({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => {
      const auth = parsed.password
        ? `AUTH ${decodeURIComponent(parsed.username || 'default')} ${decodeURIComponent(parsed.password)}\r\n`
        : '';
      socket.write(`${auth}PING\r\n`);
    });
    socket.on('data', (chunk) => done(chunk.toString().includes('PONG')));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function hasRedisServer() {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function startPrivateRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'actionwatch-redis-'));
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i += 1) {
    if (await ping(url, 200)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await ping(url))) throw new Error('the private redis-server did not start');
  const stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, stop };
}

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: with-redis.mjs <command> [args...]');
  process.exit(2);
}

const configured = process.env.REDIS_URL;
const url = configured || DEFAULT_URL;
let stopPrivate = () => {};
const env = { ...process.env };
// Sentinel, Cluster, TLS or a password kept out of the URL: the program itself checks that Redis.
const elsewhere = ['REDIS_SENTINELS', 'REDIS_CLUSTER_NODES', 'REDIS_TLS', 'REDIS_PASSWORD'].some(
  (name) => (process.env[name] ?? '').trim() !== '',
);
if (!elsewhere && !(await ping(url))) {
  if (configured && configured !== DEFAULT_URL) {
    console.error(
      `Redis at REDIS_URL=${configured.replace(/\/\/([^@]*)@/, '//***@')} does not answer. Start it, or unset REDIS_URL to use a local one.`,
    );
    process.exit(1);
  }
  if (!hasRedisServer()) {
    console.error(
      `No Redis answers at ${DEFAULT_URL} and no redis-server is on PATH. Get one with any of:\n` +
        '  docker compose up -d redis\n' +
        '  apt-get install redis-server   (or: brew install redis)\n' +
        '  REDIS_URL=redis://host:port    (point at an existing Redis)',
    );
    process.exit(1);
  }
  const started = await startPrivateRedis();
  console.error(`No Redis at ${DEFAULT_URL}: started a private redis-server at ${started.url} for this run.`);
  env.REDIS_URL = started.url;
  stopPrivate = started.stop;
}

const child = spawn(command, args, { stdio: 'inherit', env, shell: false });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  stopPrivate();
  process.exit(code ?? (signal ? 1 : 0));
});
child.on('error', (error) => {
  stopPrivate();
  console.error(`could not run ${command}: ${error.message}`);
  process.exit(1);
});
