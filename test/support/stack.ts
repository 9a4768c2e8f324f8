import { Writable } from 'node:stream';
import { type Config, loadConfig } from '../../src/config/config.js';
import { type RedisTarget, redisVariables } from '../../src/config/redis-target.js';
import { ActionWatcher } from '../../src/library/action-watcher.js';
import { createLogger, type Logger } from '../../src/logging/logger.js';
import { Runtime } from '../../src/runtime.js';
import { Simulator, type SimulatorOptions } from '../../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix } from '../../src/support/redis.js';

/**
 * The Redis the tests use, as the environment variables a process reads (REDIS_URL, or whichever
 * REDIS_* variables are set: the suite runs against TLS, Sentinel or a Cluster the same way).
 */
export const REDIS_ENV: Record<string, string> = redisVariables(process.env);
export const REDIS_TARGET: RedisTarget = loadConfig(REDIS_ENV).redis;
/** A standalone Redis URL, for tests about URLs themselves (a wrong database, wrong credentials). */
export const REDIS_URL = REDIS_ENV.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The target a REDIS_URL names, as a process would read it. */
export function urlTarget(url: string): RedisTarget {
  return loadConfig({ REDIS_URL: url }).redis;
}

export const SIM_TOKEN = 'test-token';

/** A key prefix no other test file (or run) shares, so files run in parallel safely. */
export function testPrefix(name: string): string {
  return `awtest-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Captures pino's JSON lines so tests can assert on what was logged. */
export class LogCapture {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  readonly logger: Logger;

  constructor(level = 'debug') {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (const line of chunk.toString().split('\n')) {
          if (line.trim() === '') continue;
          this.raw.push(line);
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        callback();
      },
    });
    this.logger = createLogger({ level, destination: sink });
  }

  find(predicate: (line: Record<string, unknown>) => boolean) {
    return this.lines.filter(predicate);
  }
}

export interface Stack {
  simulator: Simulator;
  runtime: Runtime;
  config: Config;
  prefix: string;
  logs: LogCapture;
  /** A second Runtime on the same prefix, as another process would have. */
  another(env?: Record<string, string>): Runtime;
  /**
   * The environment of a child process (CLI, worker, library) on this stack: its Redis prefix,
   * the simulator and its token, and the tests' short poll schedule; `extra` adds or overrides.
   */
  processEnv(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

export interface StackOptions {
  name: string;
  simulator?: SimulatorOptions;
  env?: Record<string, string>;
  /** The REDIS_* variables of the Redis to use (one a test started); default REDIS_ENV. */
  redis?: Record<string, string>;
}

/** Simulator over real HTTP + Runtime on the real Redis under a private prefix. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const simulator = await Simulator.start({ tokens: [SIM_TOKEN], rateLimit: false, ...options.simulator });
  const prefix = testPrefix(options.name);
  const redisEnv = options.redis ?? REDIS_ENV;
  const env = {
    ...redisEnv,
    DIGITALOCEAN_API_URL: simulator.url,
    DIGITALOCEAN_TOKEN: SIM_TOKEN,
    ACTIONWATCH_PREFIX: prefix,
    POLL_MIN_INTERVAL: '200ms',
    POLL_MAX_INTERVAL: '1s',
    WORKER_LOCK_DURATION: '5s',
    ...options.env,
  };
  const config = loadConfig(env);
  const logs = new LogCapture();
  const runtime = new Runtime(config, logs.logger);
  const others: Runtime[] = [];
  return {
    simulator,
    runtime,
    config,
    prefix,
    logs,
    processEnv(extra = {}) {
      return {
        ...redisEnv,
        ACTIONWATCH_PREFIX: prefix,
        DIGITALOCEAN_API_URL: simulator.url,
        DIGITALOCEAN_TOKEN: SIM_TOKEN,
        POLL_MIN_INTERVAL: '200ms',
        POLL_MAX_INTERVAL: '1s',
        ...extra,
      };
    },
    another(extra = {}) {
      const other = new Runtime(loadConfig({ ...env, ...extra }), logs.logger);
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.close();
      await runtime.close();
      const cleaner = createRedis(config.redis);
      await deleteKeysWithPrefix(cleaner, prefix);
      cleaner.disconnect();
      await simulator.close();
    },
  };
}

export async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  stepMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/**
 * A stack whose own runtime runs watch steps (webhooks off) and chain steps, with a library
 * watcher over it: where the run and chain tests start. Close the watcher, then the stack.
 */
export async function startWorkingStack(
  options: StackOptions,
): Promise<{ stack: Stack; watcher: ActionWatcher }> {
  const stack = await startStack(options);
  await stack.runtime.startWorker({ concurrency: 8, webhooks: false });
  await stack.runtime.startChainWorker();
  return { stack, watcher: ActionWatcher.fromRuntime(stack.runtime) };
}
