import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRedis } from '../../src/support/redis.js';
import { TempDir } from './temp-dir.js';

/**
 * A redis-server of a test's own, on a free port, so that the test may restart it (never the
 * shared 6379 one). No save points and no AOF; a restart saves once on SHUTDOWN and loads that
 * file again, as a persistent Redis that restarts would.
 */
export class PrivateRedis {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: TempDir,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** On a random high port; another one when that is taken (the server then exits at once). */
  static async start(): Promise<PrivateRedis> {
    const dir = new TempDir('aw-redis');
    for (let attempt = 1; ; attempt++) {
      const redis = new PrivateRedis(20_000 + Math.floor(Math.random() * 40_000), dir);
      try {
        await redis.launch();
        return redis;
      } catch (error) {
        redis.process?.kill('SIGKILL');
        if (attempt === 5) {
          dir.remove();
          throw error;
        }
      }
    }
  }

  /** Shuts the server down (saving its data) and starts it again on the same port. */
  async restart(): Promise<void> {
    await this.shutdown(true);
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.shutdown(false);
    this.dir.remove();
  }

  private async launch(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir.path,
      ],
      { stdio: 'ignore' },
    );
    this.process = child;
    const probe = createRedis(this.url);
    probe.on('error', () => {});
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited`);
        // Only our own server will do: another one may already listen on this port.
        const info = await probe.info('server').catch(() => '');
        if (info.includes(`process_id:${child.pid}\r`)) return;
        if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      probe.disconnect();
    }
  }

  private async shutdown(save: boolean): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    const admin = createRedis(this.url);
    admin.on('error', () => {});
    await admin.call('SHUTDOWN', save ? 'SAVE' : 'NOSAVE').catch(() => {});
    admin.disconnect();
    await exited;
    this.process = undefined;
  }
}
