import type { DigitalOceanClient } from '../digitalocean/client.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { RateLimitedError } from '../errors/digitalocean-api-error.js';
import type { Redis } from '../support/redis.js';
import { withTimeout } from '../support/with-timeout.js';

export interface CheckResult {
  ok: boolean;
  /** Why it failed (or a note on a pass); never holds a credential. */
  detail?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: { redis: CheckResult; digitalocean: CheckResult };
}

export interface ReadinessOptions {
  redis: Redis;
  /** Makes the client for the token check; throws ConfigError when no token is configured. */
  client: () => DigitalOceanClient;
  /** How long a token check's answer is reused: each costs one request of the shared budget. */
  cacheMs?: number;
  /** Failures are re-checked sooner, so a fixed token is noticed quickly. */
  failureCacheMs?: number;
}

const REDIS_PING_TIMEOUT_MS = 2_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * /readyz: Redis answers PING, and DigitalOcean accepts the token (one cheap authenticated list
 * request, its answer cached). A 429, or our own budget holding the request back, says nothing
 * against the token, so it passes with a note.
 */
export class Readiness {
  private client: DigitalOceanClient | undefined;
  private cached: { result: CheckResult; until: number } | undefined;
  private inFlight: Promise<CheckResult> | undefined;

  constructor(private readonly options: ReadinessOptions) {}

  async check(): Promise<ReadinessReport> {
    const [redis, digitalocean] = await Promise.all([this.checkRedis(), this.checkToken()]);
    return { ready: redis.ok && digitalocean.ok, checks: { redis, digitalocean } };
  }

  private async checkRedis(): Promise<CheckResult> {
    // Commands wait through a failover; readiness must say at once that Redis is not answering.
    try {
      await withTimeout(
        this.options.redis.ping(),
        REDIS_PING_TIMEOUT_MS,
        `no answer within ${REDIS_PING_TIMEOUT_MS} ms`,
      );
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: `Redis did not answer PING: ${message(error)}` };
    }
  }

  private async checkToken(): Promise<CheckResult> {
    if (this.cached !== undefined && Date.now() < this.cached.until) return this.cached.result;
    this.inFlight ??= this.askDigitalOcean().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async askDigitalOcean(): Promise<CheckResult> {
    let result: CheckResult;
    try {
      this.client ??= this.options.client();
      await this.client.listActions({ perPage: 1, retries: 0 });
      result = { ok: true };
    } catch (error) {
      if (error instanceof RateLimitedError || error instanceof BudgetExhaustedError) {
        result = { ok: true, detail: `not re-checked: ${message(error)}` };
      } else {
        result = { ok: false, detail: message(error) };
      }
    }
    const ttl = result.ok ? (this.options.cacheMs ?? 30_000) : (this.options.failureCacheMs ?? 5_000);
    this.cached = { result, until: Date.now() + ttl };
    return result;
  }
}
