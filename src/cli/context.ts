import { type Config, loadConfig, requireProfileToken } from '../config/config.js';
import { createLogger, type Logger } from '../logging/logger.js';
import type { Runtime } from '../runtime.js';

export interface RuntimeOptions {
  /** Fail before touching Redis when no DigitalOcean token is configured. */
  needsToken?: boolean;
  /** With needsToken: the token needed is this profile's (DIGITALOCEAN_TOKEN_<NAME>). */
  tokenProfile?: string | undefined;
  /** With tokenProfile: who needs that token, for the error (see requireProfileToken). */
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
  const [{ Runtime }, { assertRedisReachable }] = await Promise.all([
    import('../runtime.js'),
    import('../support/redis.js'),
  ]);
  await assertRedisReachable(config.redis);
  const runtime = new Runtime(config, logger);
  try {
    return await body(runtime);
  } finally {
    await runtime.close();
    logger.flush();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
