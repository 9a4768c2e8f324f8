import type { AnswerMismatch } from '../digitalocean/action-answer.js';
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
  | 'client_error'
  | 'unreadable_start';

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

/**
 * The request provably never reached DigitalOcean: the connection was refused or the host name did
 * not resolve. The only failure after which a POST may be sent again.
 */
export class ConnectionFailedError extends TransientError {}

/**
 * A 2xx answer that is about another action or resource than the one asked for, or whose action
 * is malformed (an id that is not a positive integer). A protocol fault of that request: retried
 * like any transient failure, and never taken as the asked-for action's state.
 */
export class AnswerMismatchError extends TransientError {
  constructor(
    message: string,
    /** The action id asked for; undefined for a POST (it asked about the resource only). */
    readonly askedId: number | undefined,
    /** The action id the answer carried, as it came. */
    readonly answeredId: unknown,
    readonly fault: AnswerMismatch['fault'],
    details: ApiErrorDetails = {},
  ) {
    super(message, details);
  }
}

/**
 * A listing's `links.pages.next` that cannot be followed on the configured API URL (not an API
 * path, or a link back to a page already read, or no end in sight). The listing is not returned
 * in part: this fails it, like any transient failure, and the caller tries again later.
 */
export class PageLinkError extends TransientError {}

/**
 * DigitalOcean answered a POST with a 2xx, so the action started, but the answer does not say
 * which action it is (not the documented `{"action": …}`, or an action that is not a valid one of
 * this resource). Never retried: sending the POST again would start a second action.
 */
export class UnreadableStartError extends DigitalOceanApiError {
  readonly kind = 'unreadable_start';
}

/** Any other 4xx, e.g. 422 "pending event" on a busy droplet. */
export class ClientError extends DigitalOceanApiError {
  readonly kind = 'client_error';
}
