import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import type { Redis } from '../../src/support/redis.js';
import { WATCH_QUEUE } from '../../src/watches/keys.js';
import { type ProcessUsage, readProcessUsage } from './process-usage.js';
import { sleep } from './timing.js';

/** The product's own CLI entry point, next to this file once compiled into dist/. */
const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const PINO_LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** A log line reduced to its kind: level and message, with numbers and (action types) folded. */
function logKind(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string };
    const message = (entry.msg ?? '').replace(/\d+/g, '#').replace(/\([^)]*\)/g, '(…)');
    return `${PINO_LEVELS[entry.level ?? 0] ?? 'log'}: ${message}`;
  } catch {
    return `stderr: ${line.replace(/\d+/g, '#').slice(0, 200)}`;
  }
}

/**
 * `actionwatch worker` in a process of its own, configured only by the environment given, so the
 * benchmark measures exactly what an operator runs (and can read its CPU and memory from /proc).
 */
export class WorkerProcess {
  /** What the worker wrote to stderr (warnings and errors at LOG_LEVEL=warn), counted by kind. */
  readonly logKinds = new Map<string, number>();
  private readonly lastLines: string[] = [];
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
  ) {
    if (child.stderr !== null) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        if (line.trim() === '') return;
        const kind = logKind(line);
        this.logKinds.set(kind, (this.logKinds.get(kind) ?? 0) + 1);
        this.lastLines.push(line);
        if (this.lastLines.length > 20) this.lastLines.shift();
      });
    }
    child.once('exit', () => {
      this.exited = true;
    });
  }

  /**
   * Starts the worker and resolves once it is registered on the queue in Redis. The working
   * directory is a neutral one so that no `.env` of the developer's leaks into the measurement.
   */
  static async start(
    env: Record<string, string>,
    redis: Redis,
    prefix: string,
    nodeArgs: string[] = [],
  ): Promise<WorkerProcess> {
    const worker = await WorkerProcess.spawn(env, ['worker'], nodeArgs);
    const queue = new Queue(WATCH_QUEUE, { connection: redis, prefix });
    try {
      const deadline = Date.now() + 20_000;
      while ((await queue.getWorkersCount()) === 0) {
        if (worker.exited) throw new Error(`the worker exited at start:\n${worker.lastLines.join('\n')}`);
        if (Date.now() > deadline) throw new Error('the worker did not register on the queue within 20 s');
        await sleep(50);
      }
    } catch (error) {
      await worker.stop();
      throw error;
    } finally {
      await queue.close();
    }
    return worker;
  }

  /**
   * Runs `actionwatch <args>` (of `cliMain`, default this build's CLI; another build measures the
   * code of another commit) without waiting for it to be ready.
   */
  static async spawn(
    env: Record<string, string>,
    args: string[],
    nodeArgs: string[] = [],
    cliMain = CLI_MAIN,
  ): Promise<WorkerProcess> {
    const child = spawn(process.execPath, [...nodeArgs, cliMain, ...args], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await once(child, 'spawn');
    if (child.pid === undefined) throw new Error(`actionwatch ${args.join(' ')} did not start`);
    return new WorkerProcess(child, child.pid);
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** The last lines it wrote to stderr, to say why it failed. */
  lastLog(): string {
    return this.lastLines.join('\n');
  }

  usage(): ProcessUsage {
    return readProcessUsage(this.pid);
  }

  /** SIGTERM (the worker finishes in-flight polls), then SIGKILL if it takes too long. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    const exit = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exit;
    clearTimeout(timer);
  }
}
