import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { TempDir } from './temp-dir.js';

export { freePort };

/**
 * Real Redis servers started by a test: standalone (optionally TLS), replicas and Sentinels. Each
 * listens on a free loopback port, keeps its files in the test's temporary folder, and is stopped
 * by `RedisServers.close()`. Tests that need them are skipped only when redis-server is missing.
 */

/** Whether `redis-server` is on PATH (the only reason to skip a test that starts servers). */
export const HAS_REDIS_SERVER = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/** One running redis-server (or Sentinel) process and its log. */
export class RedisProcess {
  private readonly exited: Promise<void>;
  private log = '';
  private readonly waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer) => {
      this.log += chunk.toString();
      for (const waiter of [...this.waiters]) {
        if (waiter.pattern.test(this.log)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = once(child, 'exit').then(() => {});
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the log shows `pattern`; rejects if the process exits or `timeoutMs` passes first. */
  async logShows(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    if (pattern.test(this.log)) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ pattern, resolve })),
        this.exited.then(() => {
          throw new Error(`${this.name} exited before its log showed ${pattern}:\n${this.log.slice(-2000)}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.log.slice(-2000)}`),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL: the process dies as a crashed machine would, without a last save or goodbye. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.running) this.child.kill('SIGTERM');
    await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await this.kill();
  }
}

/** The files of a TLS setup: a CA, a server certificate for 127.0.0.1/localhost, a client certificate. */
export interface TlsFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/**
 * Generates a self-signed CA (named `caName`) and, signed by it, a server certificate valid for
 * 127.0.0.1 and localhost and a client certificate; all in `dir`, with openssl.
 */
export function generateTlsFiles(dir: string, caName = 'actionwatch test CA'): TlsFiles {
  const file = (name: string) => join(dir, name);
  const slug = caName.replace(/\W+/g, '-');
  const files: TlsFiles = {
    caCert: file(`${slug}-ca.crt`),
    serverCert: file(`${slug}-server.crt`),
    serverKey: file(`${slug}-server.key`),
    clientCert: file(`${slug}-client.crt`),
    clientKey: file(`${slug}-client.key`),
  };
  const caKey = file(`${slug}-ca.key`);
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${caName}`].concat([
      '-keyout',
      caKey,
      '-out',
      files.caCert,
    ]),
    dir,
  );
  const extensions = file(`${slug}-san.cnf`);
  writeFileSync(extensions, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [cert, key, subject] of [
    [files.serverCert, files.serverKey, '/CN=localhost'],
    [files.clientCert, files.clientKey, '/CN=actionwatch-client'],
  ] as const) {
    const request = `${cert}.csr`;
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', key, '-out', request], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        request,
        '-CA',
        files.caCert,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-days',
        '2',
      ].concat(['-extfile', extensions, '-out', cert]),
      dir,
    );
  }
  return files;
}

export interface ServerOptions {
  /** Extra `--name value` arguments (e.g. ['--requirepass', 'pw']). */
  args?: string[];
  /**
   * Serve TLS only (the plain port is closed), with these files. A client certificate is checked
   * when one is presented, not required (as on most managed offers).
   */
  tls?: TlsFiles;
}

export interface SentinelOptions {
  /** The name the Sentinels monitor the primary under. */
  name: string;
  primaryPort: number;
  quorum: number;
  /** The data nodes' password (auth-pass), when they require one. */
  primaryPassword?: string;
  /** The Sentinels' own password. */
  password?: string;
  /** How long a primary must be silent before it is judged down. */
  downAfterMs?: number;
}

/** Starts and stops the Redis processes of one test file, in a temporary folder of its own. */
export class RedisServers {
  readonly dir: TempDir;
  private readonly processes: RedisProcess[] = [];

  constructor(name: string) {
    this.dir = new TempDir(`aw-${name}`);
  }

  /** A redis-server on a free port; AOF off, no snapshots, in a folder of its own. */
  async server(name: string, options: ServerOptions = {}): Promise<RedisProcess> {
    return this.start(name, (port, dir) => {
      const listen = options.tls
        ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.serverCert]
            .concat(['--tls-key-file', options.tls.serverKey, '--tls-ca-cert-file', options.tls.caCert])
            .concat(['--tls-auth-clients', 'optional'])
        : ['--port', String(port)];
      return {
        args: [...listen, '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'].concat([
          '--protected-mode',
          'no',
          ...(options.args ?? []),
        ]),
        ready: /Ready to accept connections/,
      };
    });
  }

  /** A Sentinel monitoring `options.primaryPort`. */
  async sentinel(name: string, options: SentinelOptions): Promise<RedisProcess> {
    return this.start(name, (port, dir) => {
      const config = join(dir, 'sentinel.conf');
      const lines = [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${options.name} 127.0.0.1 ${options.primaryPort} ${options.quorum}`,
        `sentinel down-after-milliseconds ${options.name} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${options.name} 10000`,
        `sentinel parallel-syncs ${options.name} 1`,
        ...(options.primaryPassword === undefined
          ? []
          : [`sentinel auth-pass ${options.name} ${options.primaryPassword}`]),
        ...(options.password === undefined ? [] : [`requirepass ${options.password}`]),
      ];
      writeFileSync(config, `${lines.join('\n')}\n`);
      return { args: [config, '--sentinel'], ready: /\+monitor master/ };
    });
  }

  private async start(
    name: string,
    command: (port: number, dir: string) => { args: string[]; ready: RegExp },
  ): Promise<RedisProcess> {
    // A port found free can be taken before redis-server binds it: try another one then.
    for (let attempt = 1; ; attempt += 1) {
      const port = await freePort();
      const dir = join(this.dir.path, `${name}-${port}`);
      mkdirSync(dir, { recursive: true });
      const { args, ready } = command(port, dir);
      const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const process = new RedisProcess(name, port, child);
      this.processes.push(process);
      try {
        await process.logShows(ready);
        return process;
      } catch (error) {
        await process.stop();
        if (attempt >= 3) throw error;
      }
    }
  }

  /** Stops every process started here and removes their files. */
  async close(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.stop()));
    this.dir.remove();
  }
}
