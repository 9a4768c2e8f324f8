import { type Config, loadConfig, requireProfileToken } from '../config/config.js';
import { createLogger, type Logger } from '../logging/logger.js';
import type { Runtime } from '../runtime.js';
import { notice } from './notice.js';

export interface RuntimeOptions {
  /** Fail before touching Redis when no DigitalOcean token is configured. */
  needsToken?: boolean;
  /** With needsToken: the token needed is this profile's (DIGITALOCEAN_TOKEN_<NAME>). */
  tokenProfile?: string | undefined;
  /** With needsToken: which command needs the token, and for what (see requireProfileToken). */
  tokenPurpose?: string;
  env?: Record<string, string | undefined>;
}

export function loadCliConfig(env: Record<string, string | undefined> = process.env): {
  config: Config;
  logger: Logger;
} {
  const config = loadConfig(env);
  return { config, logger: createLogger({ level: config.logLevel }) };
}

/** Validates configuration and Redis up front (one clear line each), then runs `body` with a Runtime. */
export async function withRuntime<T>(
  options: RuntimeOptions,
  body: (runtime: Runtime) => Promise<T>,
): Promise<T> {
  const { config, logger } = loadCliConfig(options.env);
  if (options.needsToken) requireProfileToken(config, options.tokenProfile, options.tokenPurpose);
  // Loaded on demand so `--help`, `--version` and input errors answer without loading BullMQ.
  const [{ Runtime }] = await Promise.all([import('../runtime.js'), checkRedis(config, logger)]);
  const runtime = new Runtime(config, logger);
  try {
    return await body(runtime);
  } finally {
    await runtime.close();
    logger.flush();
  }
}

/**
 * Every command proves Redis usable (answering, credentials accepted, the database selected
 * exists) before it writes anything, and says once when its eviction policy may lose watches.
 */
export async function checkRedis(config: Config, logger: Logger): Promise<void> {
  const { assertRedisReachable } = await import('../support/redis.js');
  const { warnings } = await assertRedisReachable(config.redis);
  for (const warning of warnings) notice(logger, warning);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
