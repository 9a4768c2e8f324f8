import { type Config, loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { Runtime } from '../../src/runtime.js';
import { Simulator } from '../../src/simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix, type Redis } from '../../src/support/redis.js';
import { WorkerProcess } from './worker-process.js';

const SIM_TOKEN = 'bench-token';
/** The simulator has no rate limit here, so neither may the worker's budget: we measure the worker. */
const UNLIMITED = '1000000000';

/**
 * What every benchmark phase shares: one in-process simulator without a rate limit, a plain
 * Redis connection for measuring, and a private key prefix per phase (deleted afterwards).
 */
export class BenchEnvironment {
  private readonly prefixes = new Set<string>();
  private readonly workers = new Set<WorkerProcess>();

  private constructor(
    readonly simulator: Simulator,
    readonly redis: Redis,
    /** The REDIS_* variables of the Redis under test, passed to every worker. */
    readonly redisEnv: Record<string, string>,
    private readonly workerNodeArgs: string[],
  ) {}

  /** `workerNodeArgs` go to every worker's node (e.g. --cpu-prof to see where its time goes). */
  static async start(
    redisEnv: Record<string, string>,
    workerNodeArgs: string[] = [],
  ): Promise<BenchEnvironment> {
    const simulator = await Simulator.start({ tokens: [SIM_TOKEN], rateLimit: false });
    const redis = createRedis(loadConfig(redisEnv).redis, { connectionName: 'actionwatch-bench' });
    await redis.ping();
    return new BenchEnvironment(simulator, redis, redisEnv, workerNodeArgs);
  }

  async startWorker(prefix: string, env: Record<string, string>): Promise<WorkerProcess> {
    const worker = await WorkerProcess.start(env, this.redis, prefix, this.workerNodeArgs);
    this.workers.add(worker);
    return worker;
  }

  /** A fresh key prefix no other run or phase shares. */
  newPrefix(phase: string): string {
    const prefix = `awbench-${phase}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.prefixes.add(prefix);
    return prefix;
  }

  /** The environment of `actionwatch worker` (and of the producer, which reads the same variables). */
  configEnv(prefix: string, overrides: Record<string, string> = {}): Record<string, string> {
    return {
      ...this.redisEnv,
      DIGITALOCEAN_API_URL: this.simulator.url,
      DIGITALOCEAN_TOKEN: SIM_TOKEN,
      ACTIONWATCH_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: UNLIMITED,
      RATE_LIMIT_PER_HOUR: UNLIMITED,
      // One GET per poll: the fleet benchmark (--fleet) measures batched observation.
      OBSERVE_MODE: 'direct',
      LOG_LEVEL: 'warn',
      ...overrides,
    };
  }

  config(prefix: string, overrides: Record<string, string> = {}): Config {
    return loadConfig(this.configEnv(prefix, overrides));
  }

  /** A Runtime in this process for enqueueing and reading watches (never a worker). */
  producer(prefix: string, overrides: Record<string, string> = {}): Runtime {
    return new Runtime(this.config(prefix, overrides), createLogger({ level: 'warn' }));
  }

  async dropPrefix(prefix: string): Promise<void> {
    await deleteKeysWithPrefix(this.redis, prefix);
    this.prefixes.delete(prefix);
  }

  /** Stops any worker still running and deletes what every phase left in Redis, even after a failure. */
  async close(): Promise<void> {
    await Promise.all([...this.workers].map((worker) => worker.stop()));
    for (const prefix of [...this.prefixes]) await this.dropPrefix(prefix).catch(() => {});
    this.redis.disconnect();
    await this.simulator.close();
  }
}
