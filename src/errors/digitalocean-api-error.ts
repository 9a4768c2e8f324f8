import type { RateLimitSnapshot } from '../digitalocean/rate-limit-headers.js';

/**
 * The small typed set every DigitalOcean failure is classified into. Callers switch on `kind`
 * (or `instanceof`) and never on raw status codes.
 */
export type ApiErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'transient'
  | 'client_error';

export interface ApiErrorDetails {
  status?: number;
  /** DigitalOcean's error `id` (`not_found`, `unprocessable_entity`, …) when the body had one. */
  errorId?: string;
  method?: string;
  path?: string;
  rateLimit?: RateLimitSnapshot;
  cause?: unknown;
}

export abstract class DigitalOceanApiError extends Error {
  abstract readonly kind: ApiErrorKind;
  readonly status: number | undefined;
  readonly errorId: string | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly rateLimit: RateLimitSnapshot;

  constructor(message: string, details: ApiErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.errorId = details.errorId;
    this.method = details.method;
    this.path = details.path;
    this.rateLimit = details.rateLimit ?? {};
  }

  /** Whether trying the same request again later can succeed without anyone changing anything. */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'rate_limited';
  }
}

export class UnauthorizedError extends DigitalOceanApiError {
  readonly kind = 'unauthorized';
}

export class ForbiddenError extends DigitalOceanApiError {
  readonly kind = 'forbidden';
}

export class NotFoundError extends DigitalOceanApiError {
  readonly kind = 'not_found';
}

export class RateLimitedError extends DigitalOceanApiError {
  readonly kind = 'rate_limited';
  /** How long to stay quiet: `retry-after`, else until `ratelimit-reset`. */
  readonly waitMs: number;

  constructor(message: string, waitMs: number, details: ApiErrorDetails = {}) {
    super(message, details);
    this.waitMs = waitMs;
  }
}

/** 5xx, network errors, timeouts, and bodies that are not the JSON the spec promises. */
export class TransientError extends DigitalOceanApiError {
  readonly kind = 'transient';
}

/** Any other 4xx, e.g. 422 "pending event" on a busy droplet. */
export class ClientError extends DigitalOceanApiError {
  readonly kind = 'client_error';
}
