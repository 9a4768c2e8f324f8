import { z } from 'zod';
import { ConfigError } from '../errors/config-error.js';
import { isOutcome, OUTCOMES, type Outcome } from '../watches/watch.js';
import { parseDuration } from './duration.js';
import { parseBoolean } from './env-values.js';
import { parseRedisTarget, type RedisTarget } from './redis-target.js';
import { Secret } from './secret.js';

type Env = Record<string, string | undefined>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * How workers observe actions: `batched` serves watches from shared list requests (falling back to
 * each watch's own GET), `direct` makes one GET per poll.
 */
export const OBSERVE_MODES = ['batched', 'direct'] as const;
export type ObserveMode = (typeof OBSERVE_MODES)[number];

/** `DIGITALOCEAN_TOKEN_<NAME>` names a token profile `<name>` (lower-cased). */
const PROFILE_TOKEN_VARIABLE = /^DIGITALOCEAN_TOKEN_(.+)$/;
const PROFILE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

const duration = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms < 0) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a duration such as 500ms, 30s, 5m or 6h (got "${text}")`,
        });
        return z.NEVER;
      }
      return ms;
    });

const integer = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = Number(text);
      if (!/^\s*-?\d+\s*$/.test(text) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a whole number from ${min} to ${max} (got "${text}")`,
        });
        return z.NEVER;
      }
      return value;
    });

const fraction = (name: string, fallback: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a number from 0 to ${max} (got "${text}")`,
        });
        return z.NEVER;
      }
      return value;
    });

const boolean = (name: string) =>
  z
    .string()
    .default('false')
    .transform((text, ctx) => {
      const value = parseBoolean(text, false);
      if (value !== undefined) return value;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false (got "${text}")` });
      return z.NEVER;
    });

const outcomeList = (name: string) =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const values = text.split(',').map((value) => value.trim());
      if (values.some((value) => !isOutcome(value))) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must list outcomes among ${OUTCOMES.join(', ')} (got "${text}")`,
        });
        return z.NEVER;
      }
      return values as Outcome[];
    });

const httpUrl = (name: string) =>
  z.string().refine((text) => {
    try {
      const url = new URL(text);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, `${name} must be an absolute http(s) URL`);

const envSchema = z.object({
  DIGITALOCEAN_TOKEN: z.string().optional(),
  DIGITALOCEAN_ACCESS_TOKEN: z.string().optional(),
  DIGITALOCEAN_API_URL: httpUrl('DIGITALOCEAN_API_URL').default('https://api.digitalocean.com'),
  DIGITALOCEAN_TIMEOUT: duration('DIGITALOCEAN_TIMEOUT', '10s'),
  DIGITALOCEAN_RETRIES: integer('DIGITALOCEAN_RETRIES', 3, 0, 10),
  ACTIONWATCH_PREFIX: z
    .string()
    .default('actionwatch')
    .refine(
      (text) => /^[A-Za-z0-9_.{}-]+$/.test(text),
      'ACTIONWATCH_PREFIX may hold only letters, digits, _ . - { }',
    ),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  RATE_LIMIT_PER_MINUTE: integer('RATE_LIMIT_PER_MINUTE', 250, 1),
  RATE_LIMIT_PER_HOUR: integer('RATE_LIMIT_PER_HOUR', 5000, 1),
  RATE_LIMIT_HEADROOM: fraction('RATE_LIMIT_HEADROOM', 0.1, 0.9),
  POLL_FIRST_DELAY: duration('POLL_FIRST_DELAY', '0s'),
  POLL_MIN_INTERVAL: duration('POLL_MIN_INTERVAL', '2s'),
  POLL_MAX_INTERVAL: duration('POLL_MAX_INTERVAL', '60s'),
  POLL_AGE_FACTOR: fraction('POLL_AGE_FACTOR', 0.1, 10),
  POLL_JITTER: fraction('POLL_JITTER', 0.1, 0.5),
  WATCH_TIMEOUT: duration('WATCH_TIMEOUT', '6h'),
  WATCH_RETENTION: duration('WATCH_RETENTION', '7d'),
  WORKER_CONCURRENCY: integer('WORKER_CONCURRENCY', 50, 1, 10_000),
  WORKER_LOCK_DURATION: duration('WORKER_LOCK_DURATION', '30s'),
  EVENTS_MAX_LENGTH: integer('EVENTS_MAX_LENGTH', 100_000, 100),
  WEBHOOK_URL: httpUrl('WEBHOOK_URL').optional(),
  ALERT_WEBHOOK_URL: httpUrl('ALERT_WEBHOOK_URL').optional(),
  ALERT_WEBHOOK_FORMAT: z
    .enum(['json', 'slack'], { message: 'ALERT_WEBHOOK_FORMAT must be json or slack' })
    .default('json'),
  WEBHOOK_SECRET: z
    .string()
    .refine((text) => /^whsec_[A-Za-z0-9+/=]+$/.test(text), 'WEBHOOK_SECRET must look like whsec_<base64>')
    .optional(),
  WEBHOOK_TIMEOUT: duration('WEBHOOK_TIMEOUT', '10s'),
  WEBHOOK_RETRY_SPAN: duration('WEBHOOK_RETRY_SPAN', '24h'),
  WEBHOOK_ALLOW_PRIVATE: boolean('WEBHOOK_ALLOW_PRIVATE'),
  WEBHOOK_ON: outcomeList('WEBHOOK_ON'),
  ALERT_WEBHOOK_ON: outcomeList('ALERT_WEBHOOK_ON'),
  API_TOKEN: z.string().optional(),
  OBSERVE_MODE: z
    .enum(OBSERVE_MODES, { message: `OBSERVE_MODE must be one of ${OBSERVE_MODES.join(', ')}` })
    .default('batched'),
});

export interface PollSchedule {
  firstDelayMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** interval = age × ageFactor, clamped to [min, max]. */
  ageFactor: number;
  /** ± fraction of the interval, so that watches started together spread out. */
  jitter: number;
}

export interface Config {
  /** How to reach Redis: one server, a Sentinel-managed primary or a Cluster (see redis-target). */
  redis: RedisTarget;
  prefix: string;
  logLevel: (typeof LOG_LEVELS)[number];
  digitalocean: {
    apiUrl: string;
    token: Secret | undefined;
    /** Named token profiles (lower-cased names), each with its own budget, queue and sweeper. */
    profiles: Record<string, Secret>;
    timeoutMs: number;
    retries: number;
  };
  observe: { mode: ObserveMode };
  rateLimit: { perMinute: number; perHour: number; headroom: number };
  schedule: PollSchedule;
  watch: { defaultTimeoutMs: number; retentionMs: number };
  worker: { concurrency: number; lockDurationMs: number };
  events: { maxLength: number };
  webhooks: {
    url: string | undefined;
    alertUrl: string | undefined;
    alertFormat: 'json' | 'slack';
    secret: Secret | undefined;
    timeoutMs: number;
    retrySpanMs: number;
    allowPrivate: boolean;
    /** Outcomes sent to WEBHOOK_URL (all when absent) and to ALERT_WEBHOOK_URL (alerts when absent). */
    urlOn: Outcome[] | undefined;
    alertOn: Outcome[] | undefined;
  };
  api: { token: Secret | undefined };
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text.trim();
}

/** Reads and validates the environment; throws a ConfigError naming every wrong variable. */
export function loadConfig(env: Env = process.env): Config {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => nonEmpty(value) !== undefined),
  );
  const redis = parseRedisTarget(cleaned);
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError([...parsed.error.issues.map((issue) => issue.message), ...redis.problems]);
  }
  const e = parsed.data;
  const problems: string[] = [...redis.problems];
  if (e.POLL_MIN_INTERVAL <= 0) problems.push('POLL_MIN_INTERVAL must be greater than 0');
  if (e.POLL_MAX_INTERVAL < e.POLL_MIN_INTERVAL)
    problems.push('POLL_MAX_INTERVAL must be at least POLL_MIN_INTERVAL');
  if (e.WATCH_TIMEOUT <= 0) problems.push('WATCH_TIMEOUT must be greater than 0');
  if (e.WORKER_LOCK_DURATION < 2000) problems.push('WORKER_LOCK_DURATION must be at least 2s');
  if (e.DIGITALOCEAN_TIMEOUT < 100) problems.push('DIGITALOCEAN_TIMEOUT must be at least 100ms');
  const profiles: Record<string, Secret> = {};
  for (const [variable, value] of Object.entries(cleaned)) {
    const name = PROFILE_TOKEN_VARIABLE.exec(variable)?.[1];
    if (name === undefined || value === undefined) continue;
    if (!PROFILE_NAME.test(name) || name.toLowerCase() === 'default') {
      problems.push(
        `${variable}: a token profile name must be a letter then up to 31 letters, digits or _, and not DEFAULT (the default token is DIGITALOCEAN_TOKEN)`,
      );
      continue;
    }
    profiles[name.toLowerCase()] = new Secret(value.trim());
  }
  if (problems.length > 0) throw new ConfigError(problems);

  if (redis.target === undefined) throw new ConfigError(problems);

  const token = nonEmpty(e.DIGITALOCEAN_TOKEN) ?? nonEmpty(e.DIGITALOCEAN_ACCESS_TOKEN);
  return {
    redis: redis.target,
    prefix: e.ACTIONWATCH_PREFIX,
    logLevel: e.LOG_LEVEL,
    digitalocean: {
      apiUrl: e.DIGITALOCEAN_API_URL.replace(/\/+$/, ''),
      token: token === undefined ? undefined : new Secret(token),
      profiles,
      timeoutMs: e.DIGITALOCEAN_TIMEOUT,
      retries: e.DIGITALOCEAN_RETRIES,
    },
    rateLimit: {
      perMinute: e.RATE_LIMIT_PER_MINUTE,
      perHour: e.RATE_LIMIT_PER_HOUR,
      headroom: e.RATE_LIMIT_HEADROOM,
    },
    schedule: {
      firstDelayMs: e.POLL_FIRST_DELAY,
      minIntervalMs: e.POLL_MIN_INTERVAL,
      maxIntervalMs: e.POLL_MAX_INTERVAL,
      ageFactor: e.POLL_AGE_FACTOR,
      jitter: e.POLL_JITTER,
    },
    observe: { mode: e.OBSERVE_MODE },
    watch: { defaultTimeoutMs: e.WATCH_TIMEOUT, retentionMs: e.WATCH_RETENTION },
    worker: { concurrency: e.WORKER_CONCURRENCY, lockDurationMs: e.WORKER_LOCK_DURATION },
    events: { maxLength: e.EVENTS_MAX_LENGTH },
    webhooks: {
      url: e.WEBHOOK_URL,
      alertUrl: e.ALERT_WEBHOOK_URL,
      alertFormat: e.ALERT_WEBHOOK_FORMAT,
      secret: e.WEBHOOK_SECRET === undefined ? undefined : new Secret(e.WEBHOOK_SECRET),
      timeoutMs: e.WEBHOOK_TIMEOUT,
      retrySpanMs: e.WEBHOOK_RETRY_SPAN,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
      urlOn: e.WEBHOOK_ON,
      alertOn: e.ALERT_WEBHOOK_ON,
    },
    api: { token: nonEmpty(e.API_TOKEN) === undefined ? undefined : new Secret(e.API_TOKEN ?? '') },
  };
}

/**
 * The DigitalOcean token, or a ConfigError that says how to provide one and `purpose`: who needs
 * it (the command), and for what.
 */
export function requireToken(config: Config, purpose = 'a worker needs it to poll DigitalOcean'): Secret {
  if (config.digitalocean.token === undefined) {
    throw new ConfigError([`DIGITALOCEAN_TOKEN is not set (or DIGITALOCEAN_ACCESS_TOKEN): ${purpose}`]);
  }
  return config.digitalocean.token;
}

/**
 * The token of a profile (undefined: the default one), or a ConfigError naming the variable to
 * set. `purpose` says who needs it (default: a worker, to poll the profile's watches).
 */
export function requireProfileToken(
  config: Config,
  tokenProfile: string | undefined,
  purpose?: string,
): Secret {
  if (tokenProfile === undefined) return requireToken(config, purpose);
  const token = config.digitalocean.profiles[tokenProfile];
  if (token === undefined) {
    throw new ConfigError([
      `DIGITALOCEAN_TOKEN_${tokenProfile.toUpperCase()} is not set: ${purpose ?? `a worker needs it to poll watches of token profile ${tokenProfile}`}`,
    ]);
  }
  return token;
}

/** Why `run` (and a library `run`) needs a token, for requireProfileToken. */
export function runTokenPurpose(tokenProfile?: string): string {
  return `run needs it to start actions${tokenProfile === undefined ? '' : ` with token profile ${tokenProfile}`}`;
}
