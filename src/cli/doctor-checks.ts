import type { Config } from '../config/config.js';
import { describeRedisTarget, type RedisTarget } from '../config/redis-target.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { RateLimitedError } from '../errors/digitalocean-api-error.js';
import type { Runtime } from '../runtime.js';
import { assertRedisReachable, createRedis, type Redis } from '../support/redis.js';

/** `fail` makes `doctor` exit 1; `warn` is advice that does not stop anything from working. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  check: string;
  status: CheckStatus;
  /** What was found, in words; never a credential. */
  detail: string;
}

const DEFAULT_API_URL = 'https://api.digitalocean.com';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `INFO <section>` as a map of its `key:value` lines. */
async function info(redis: Redis, section: string): Promise<Map<string, string>> {
  const text = await redis.info(section);
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

async function persistence(redis: Redis, fields: Map<string, string>): Promise<DoctorCheck> {
  const aof = fields.get('aof_enabled') === '1';
  // Snapshot rules are not in INFO; CONFIG may be disabled on managed servers.
  const save = await redis
    .config('GET', 'save')
    .then((reply) => String((reply as string[])[1] ?? ''))
    .catch(() => undefined);
  if (aof)
    return { check: 'redis persistence', status: 'ok', detail: `appendonly yes; save "${save ?? '?'}"` };
  if (save === undefined)
    return {
      check: 'redis persistence',
      status: 'warn',
      detail:
        'appendonly no, and snapshot rules unreadable (CONFIG disabled): make sure this server persists',
    };
  if (save === '')
    return {
      check: 'redis persistence',
      status: 'warn',
      detail: 'none (appendonly no, save ""): a Redis restart loses every watch; set appendonly yes',
    };
  return {
    check: 'redis persistence',
    status: 'warn',
    detail: `snapshots only (save "${save}"): a crash loses what changed since the last one; appendonly yes is safer`,
  };
}

function eviction(fields: Map<string, string>): DoctorCheck {
  const policy = fields.get('maxmemory_policy');
  if (policy === 'noeviction')
    return { check: 'redis eviction', status: 'ok', detail: 'maxmemory-policy noeviction' };
  return {
    check: 'redis eviction',
    status: 'warn',
    detail: `maxmemory-policy ${policy ?? 'unknown'}: under memory pressure Redis may drop queued watches; BullMQ needs noeviction`,
  };
}

/**
 * Redis: usable (the preflight every command runs: answering, credentials, the database named),
 * and its persistence and eviction settings. Connections of its own that never retry, so an
 * unreachable server is one line, at once.
 */
export async function checkRedis(target: RedisTarget, timeoutMs = 3_000): Promise<DoctorCheck[]> {
  try {
    await assertRedisReachable(target, timeoutMs);
  } catch (error) {
    return [{ check: 'redis', status: 'fail', detail: message(error) }];
  }
  const redis = createRedis(target, { connectionName: 'actionwatch:doctor', failFast: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const [server, memory, persisted] = await Promise.all([
      info(redis, 'server'),
      info(redis, 'memory'),
      info(redis, 'persistence'),
    ]);
    const db = (redis.options as { db?: number }).db ?? 0;
    return [
      {
        check: 'redis',
        status: 'ok',
        detail: `${describeRedisTarget(target)} answers (Redis ${server.get('redis_version') ?? '?'}, database ${db})`,
      },
      await persistence(redis, persisted),
      eviction(memory),
    ];
  } catch (error) {
    return [{ check: 'redis', status: 'fail', detail: `${describeRedisTarget(target)}: ${message(error)}` }];
  } finally {
    redis.disconnect();
  }
}

/** One GET (`/v2/actions?per_page=1`) per token, drawn from the shared budget: accepted, and its rate-limit headers. */
export async function checkToken(runtime: Runtime, profile: string | undefined): Promise<DoctorCheck> {
  const check = profile === undefined ? 'token' : `token ${profile}`;
  let client: ReturnType<Runtime['client']>;
  try {
    client = runtime.client({ tokenProfile: profile, budgetWaitMs: 5_000 });
  } catch (error) {
    return { check, status: 'fail', detail: message(error) };
  }
  try {
    await client.listActions({ perPage: 1, retries: 0 });
  } catch (error) {
    if (error instanceof RateLimitedError || error instanceof BudgetExhaustedError)
      return { check, status: 'warn', detail: `not checked now: ${message(error)}` };
    return { check, status: 'fail', detail: message(error) };
  }
  const { limit, remaining, resetAtMs } = client.rateLimit;
  const budget =
    limit === undefined || remaining === undefined
      ? 'no ratelimit-* headers in the answer'
      : `${remaining} of ${limit} requests left this hour${resetAtMs === undefined ? '' : `, oldest expires ${new Date(resetAtMs).toISOString()}`}`;
  return { check, status: 'ok', detail: `accepted; ${budget}` };
}

/** Workers alive on each queue (BullMQ lists them from the server's client list). */
export async function checkWorkers(runtime: Runtime): Promise<DoctorCheck[]> {
  const profiles = Object.keys(runtime.config.digitalocean.profiles);
  const queues = [
    ...[undefined, ...profiles].map((profile) => runtime.watches.queueFor(profile)),
    runtime.chains().queue,
    runtime.deliveries().queue,
  ];
  return Promise.all(
    queues.map(async (queue): Promise<DoctorCheck> => {
      const check = `workers ${queue.name}`;
      try {
        const count = (await queue.getWorkers()).length;
        if (count > 0) return { check, status: 'ok', detail: `${count} alive` };
        return {
          check,
          status: 'warn',
          detail: 'none alive: nothing here moves until one runs (actionwatch worker)',
        };
      } catch (error) {
        return { check, status: 'warn', detail: `cannot list workers (${message(error)})` };
      }
    }),
  );
}

export function checkWebhookSecret(config: Config): DoctorCheck {
  if (config.webhooks.secret !== undefined)
    return { check: 'webhook secret', status: 'ok', detail: 'WEBHOOK_SECRET is set; webhooks are signed' };
  return {
    check: 'webhook secret',
    status: 'warn',
    detail: 'WEBHOOK_SECRET is not set: webhooks go unsigned and receivers cannot verify them',
  };
}

/** The simulator answers its own control route; DigitalOcean does not. */
export async function checkApi(config: Config): Promise<DoctorCheck> {
  const url = config.digitalocean.apiUrl;
  if (url === DEFAULT_API_URL) return { check: 'api', status: 'ok', detail: `DigitalOcean (${url})` };
  try {
    const response = await fetch(`${url}/_sim/stats`, {
      signal: AbortSignal.timeout(config.digitalocean.timeoutMs),
    });
    if (response.ok) return { check: 'api', status: 'ok', detail: `the actionwatch simulator at ${url}` };
  } catch {
    // Not the simulator, or not answering: the token check says which.
  }
  return { check: 'api', status: 'ok', detail: `${url} (DIGITALOCEAN_API_URL; not the simulator)` };
}
