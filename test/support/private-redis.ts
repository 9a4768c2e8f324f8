import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { HAS_REDIS_SERVER, RedisServers } from './redis-servers.js';
import { TempDir } from './temp-dir.js';

export { freePort };

export const hasRedisServer = HAS_REDIS_SERVER;

export interface PrivateRedis {
  port: number;
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own, configured by `args` (e.g. --requirepass), for what the
 * shared server must not be changed for; in a temporary folder, without persistence.
 */
export async function startPrivateRedis(args: string[]): Promise<PrivateRedis> {
  const servers = new RedisServers('redis');
  const server = await servers.server('private', { args });
  return { port: server.port, stop: () => servers.close() };
}

async function answering(port: number, password: string | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis({ port, lazyConnect: true, retryStrategy: () => null, password });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}

/**
 * A private redis-server that a test may restart (never the shared 6379 one): a restart saves
 * once on SHUTDOWN and loads that file again on the same port, as a persistent Redis would.
 */
export class RestartableRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: TempDir,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RestartableRedis> {
    const redis = new RestartableRedis(await freePort(), new TempDir('aw-redis'));
    await redis.launch();
    return redis;
  }

  async restart(): Promise<void> {
    await this.shutdown('SAVE');
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.shutdown('NOSAVE');
    this.dir.remove();
  }

  private async launch(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir.path,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    await answering(this.port, undefined);
  }

  private async shutdown(mode: 'SAVE' | 'NOSAVE'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const admin = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => null });
    admin.on('error', () => {});
    await admin.connect().catch(() => {});
    await admin.call('SHUTDOWN', mode).catch(() => {});
    admin.disconnect();
    await exited;
    this.child = undefined;
  }
}
