import http from 'node:http';
import https from 'node:https';
import { inspect } from 'node:util';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import pRetry from 'p-retry';
import type { z } from 'zod';
import type { Secret } from '../config/secret.js';
import {
  ClientError,
  type DigitalOceanApiError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
} from '../errors/digitalocean-api-error.js';
import type { Logger } from '../logging/logger.js';
import { USER_AGENT } from '../version.js';
import {
  type Action,
  type ActionListResponse,
  actionListResponseSchema,
  actionResponseSchema,
  type DropletActionRequest,
  errorBodySchema,
  type Image,
  type ImageActionRequest,
  imageResponseSchema,
  type ResourceKind,
  type Snapshot,
  snapshotListResponseSchema,
} from './models.js';
import { parseRateLimitHeaders, type RateLimitSnapshot, rateLimitWaitMs } from './rate-limit-headers.js';
import { type RequestGate, UNMETERED } from './request-gate.js';

export interface DigitalOceanClientOptions {
  baseUrl: string;
  token: Secret;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Extra tries for transient failures within one call. Default 3. */
  retries?: number;
  /** Upper bound on the time one call spends retrying; keep it well inside the job lock. */
  maxRetryTimeMs?: number;
  /** How long one request may wait for the shared budget before giving up with BudgetExhaustedError. */
  budgetWaitMs?: number;
  gate?: RequestGate;
  logger?: Logger;
  /** Told of every HTTP response (any status), e.g. to count them for metrics. */
  onResponse?: (info: DigitalOceanResponseInfo) => void;
}

export interface DigitalOceanResponseInfo {
  method: string;
  path: string;
  status: number;
  rateLimit: RateLimitSnapshot;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Override the client's retries for this call (0 = one try). */
  retries?: number;
}

export interface PageOptions extends CallOptions {
  page?: number;
  /** 1 to 200; DigitalOcean's default is 20. */
  perPage?: number;
}

export interface ActionPage {
  actions: Action[];
  /** `meta.total`: all actions in the listing, not just this page. */
  total: number | undefined;
  page: number;
  perPage: number;
  links: NonNullable<NonNullable<ActionListResponse['links']>['pages']>;
}

/** What every call resolves to: the parsed body plus the budget headers that came with it. */
interface Reply<T> {
  body: T;
  rateLimit: RateLimitSnapshot;
}

// The whole-exchange deadline is our own (attemptSignal); this is the operating system's connect timeout.
const NETWORK_TIMEOUT_CODES = new Set(['ETIMEDOUT']);

/**
 * Typed client for the DigitalOcean action endpoints. Every request first asks the gate (the
 * shared budget), every response feeds the gate its `ratelimit-*` headers, and every failure
 * surfaces as one of the DigitalOceanApiError kinds. Transient failures are retried a few times
 * with jittered exponential backoff; nothing else is.
 */
export class DigitalOceanClient {
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly gate: RequestGate;
  private readonly retries: number;
  private readonly maxRetryTimeMs: number;
  private readonly budgetWaitMs: number;
  private readonly logger: Logger | undefined;
  private readonly onResponse: ((info: DigitalOceanResponseInfo) => void) | undefined;
  private readonly timeoutMs: number;
  private lastRateLimit: RateLimitSnapshot = {};

  constructor(options: DigitalOceanClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.gate = options.gate ?? UNMETERED;
    this.retries = options.retries ?? 3;
    this.maxRetryTimeMs = options.maxRetryTimeMs ?? 20_000;
    this.budgetWaitMs = options.budgetWaitMs ?? 2_000;
    this.logger = options.logger;
    this.onResponse = options.onResponse;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.http = axios.create({
      baseURL: this.baseUrl,
      headers: {
        Authorization: `Bearer ${options.token.reveal()}`,
        'User-Agent': USER_AGENT,
        Accept: 'application/json',
      },
      // We classify every status and parse every body ourselves, so that a 200 with a body
      // that is not the promised JSON is a transient failure rather than a crash.
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      maxRedirects: 0,
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
    });
  }

  /** The `ratelimit-*` headers of the most recent response. */
  get rateLimit(): RateLimitSnapshot {
    return { ...this.lastRateLimit };
  }

  /** The axios instance, its agents and their sockets all hold the Authorization header. */
  [inspect.custom](): string {
    return `DigitalOceanClient { baseUrl: '${this.baseUrl}' }`;
  }

  async getAction(actionId: number, options?: CallOptions): Promise<Action> {
    return (await this.call('GET', `/v2/actions/${actionId}`, actionResponseSchema, options)).body.action;
  }

  async getDropletAction(dropletId: number, actionId: number, options?: CallOptions): Promise<Action> {
    const path = `/v2/droplets/${dropletId}/actions/${actionId}`;
    return (await this.call('GET', path, actionResponseSchema, options)).body.action;
  }

  async getImageAction(imageId: number, actionId: number, options?: CallOptions): Promise<Action> {
    const path = `/v2/images/${imageId}/actions/${actionId}`;
    return (await this.call('GET', path, actionResponseSchema, options)).body.action;
  }

  /** GET the action through its resource's scoped endpoint. */
  async getResourceAction(kind: ResourceKind, resourceId: number, actionId: number, options?: CallOptions) {
    return kind === 'droplet'
      ? this.getDropletAction(resourceId, actionId, options)
      : this.getImageAction(resourceId, actionId, options);
  }

  async listActions(options?: PageOptions): Promise<ActionPage> {
    return this.listPage('/v2/actions', options);
  }

  async listDropletActions(dropletId: number, options?: PageOptions): Promise<ActionPage> {
    return this.listPage(`/v2/droplets/${dropletId}/actions`, options);
  }

  async listImageActions(imageId: number, options?: PageOptions): Promise<ActionPage> {
    return this.listPage(`/v2/images/${imageId}/actions`, options);
  }

  /** Every action of a resource, page after page, following `links.pages.next`. */
  async *iterateResourceActions(
    kind: ResourceKind,
    resourceId: number,
    options: Omit<PageOptions, 'page'> = {},
  ): AsyncGenerator<Action> {
    const path = `/v2/${kind}s/${resourceId}/actions`;
    const perPage = options.perPage ?? 200;
    // A listing shifts while we page through it when actions are added (newest first), so one
    // action can turn up on two pages; each is yielded once. A link that does not move on ends it.
    const seen = new Set<number>();
    let page = 1;
    for (;;) {
      const listing: ActionPage = await this.listPage(path, { ...options, page, perPage });
      for (const action of listing.actions) {
        if (seen.has(action.id)) continue;
        seen.add(action.id);
        yield action;
      }
      const next = this.nextPageNumber(listing.links.next);
      if (next === undefined || next <= page || listing.actions.length === 0) break;
      page = next;
    }
  }

  /**
   * Starts an image action. Not retried by default: DigitalOcean has no idempotency key, and a
   * POST that timed out may have started the action anyway (a retry could start a second
   * transfer). Callers that can tell (see runs/) retry deliberately.
   */
  async initiateImageAction(
    imageId: number,
    request: ImageActionRequest,
    options?: CallOptions,
  ): Promise<Action> {
    const path = `/v2/images/${imageId}/actions`;
    const call = { retries: 0, ...options, body: request };
    return (await this.call('POST', path, actionResponseSchema, call)).body.action;
  }

  /** Starts a droplet action; not retried by default, for the same reason as image actions. */
  async initiateDropletAction(dropletId: number, request: DropletActionRequest, options?: CallOptions) {
    const path = `/v2/droplets/${dropletId}/actions`;
    const call = { retries: 0, ...options, body: request };
    return (await this.call('POST', path, actionResponseSchema, call)).body.action;
  }

  async getImage(imageId: number, options?: CallOptions): Promise<Image> {
    return (await this.call('GET', `/v2/images/${imageId}`, imageResponseSchema, options)).body.image;
  }

  /** Every snapshot of a droplet, page after page (the image a `snapshot` action made is one). */
  async *iterateDropletSnapshots(
    dropletId: number,
    options: Omit<PageOptions, 'page'> = {},
  ): AsyncGenerator<Snapshot> {
    const path = `/v2/droplets/${dropletId}/snapshots`;
    const perPage = options.perPage ?? 200;
    const seen = new Set<number>();
    let page = 1;
    for (;;) {
      const { body } = await this.call('GET', path, snapshotListResponseSchema, {
        ...options,
        query: { page, per_page: perPage },
      });
      for (const snapshot of body.snapshots) {
        if (seen.has(snapshot.id)) continue;
        seen.add(snapshot.id);
        yield snapshot;
      }
      const next = this.nextPageNumber(body.links?.pages?.next);
      if (next === undefined || next <= page || body.snapshots.length === 0) break;
      page = next;
    }
  }

  private async listPage(path: string, options: PageOptions = {}): Promise<ActionPage> {
    const page = options.page ?? 1;
    const perPage = options.perPage ?? 20;
    const { body } = await this.call('GET', path, actionListResponseSchema, {
      ...options,
      query: { page, per_page: perPage },
    });
    return {
      actions: body.actions,
      total: body.meta?.total,
      page,
      perPage,
      links: body.links?.pages ?? {},
    };
  }

  /**
   * `links.pages.next` is an absolute URL. We only follow it on our own API host, so a response
   * can never steer the token to another server, and take only its `page`: the path stays the one
   * we listed (the base URL may have a path of its own, and the documented examples link to others).
   */
  private nextPageNumber(next: string | undefined): number | undefined {
    if (next === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(next, this.baseUrl);
    } catch {
      return undefined;
    }
    if (url.origin !== new URL(this.baseUrl).origin) {
      this.logger?.warn({ next: url.origin }, 'ignoring a next-page link to another host');
      return undefined;
    }
    const page = Number(url.searchParams.get('page'));
    return Number.isInteger(page) && page > 0 ? page : undefined;
  }

  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    options: CallOptions & { body?: unknown; query?: Record<string, number> } = {},
  ): Promise<Reply<z.infer<S>>> {
    const retries = options.retries ?? this.retries;
    return pRetry(() => this.send(method, path, schema, options), {
      retries,
      factor: 2,
      minTimeout: 200,
      maxTimeout: 3_000,
      randomize: true,
      maxRetryTime: this.maxRetryTimeMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      shouldRetry: ({ error }) => error instanceof TransientError,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (error instanceof TransientError && retriesLeft > 0) {
          this.logger?.debug(
            { method, path, attemptNumber, retriesLeft, err: error.message },
            'transient failure, retrying',
          );
        }
      },
    });
  }

  private async send<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    options: CallOptions & { body?: unknown; query?: Record<string, number> },
  ): Promise<Reply<z.infer<S>>> {
    await this.gate.acquire({
      maxWaitMs: this.budgetWaitMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    options.signal?.throwIfAborted();
    const attempt = attemptSignal(this.timeoutMs, options.signal);
    let response: AxiosResponse<string>;
    try {
      response = await this.http.request<string>({
        method,
        url: path,
        ...(options.query === undefined ? {} : { params: options.query }),
        ...(options.body === undefined ? {} : { data: options.body }),
        signal: attempt.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const why = attempt.timedOut ? `timed out after ${this.timeoutMs} ms` : describeNetworkError(error);
      throw new TransientError(`${method} ${path} failed: ${why}`, {
        method,
        path,
        cause: networkCause(error),
      });
    } finally {
      attempt.release();
    }

    const rateLimit = parseRateLimitHeaders(response.headers as Record<string, unknown>);
    // Budget headers a response lacks keep their last value; retry-after belongs to its 429 alone.
    const { retryAfterMs: _previousRetryAfter, ...lastBudget } = this.lastRateLimit;
    this.lastRateLimit = { ...lastBudget, ...rateLimit };
    this.onResponse?.({ method, path, status: response.status, rateLimit });
    await this.gate.observe(rateLimit);

    if (response.status >= 200 && response.status < 300) {
      const parsed = schema.safeParse(parseJson(response.data));
      if (!parsed.success) {
        throw new TransientError(
          `${method} ${path} returned ${response.status} with a body that is not the expected JSON`,
          {
            status: response.status,
            method,
            path,
            rateLimit,
          },
        );
      }
      return { body: parsed.data, rateLimit };
    }
    throw await this.classify(method, path, response.status, response.data, rateLimit);
  }

  private async classify(
    method: string,
    path: string,
    status: number,
    rawBody: string,
    rateLimit: RateLimitSnapshot,
  ): Promise<DigitalOceanApiError> {
    const errorBody = errorBodySchema.safeParse(parseJson(rawBody));
    const errorId = errorBody.success ? errorBody.data.id : undefined;
    const said = errorBody.success ? `: ${errorBody.data.message}` : '';
    const details = { status, method, path, rateLimit, ...(errorId === undefined ? {} : { errorId }) };
    const message = `${method} ${path} returned ${status}${said}`;
    if (status === 401) return new UnauthorizedError(message, details);
    if (status === 403) return new ForbiddenError(message, details);
    if (status === 404) return new NotFoundError(message, details);
    if (status === 429) {
      const waitMs = rateLimitWaitMs(rateLimit);
      const reason = rateLimit.retryAfterMs === undefined ? 'ratelimit-reset' : 'retry-after';
      await this.gate.pauseFor(waitMs, `429 from DigitalOcean (${reason})`);
      return new RateLimitedError(message, waitMs, details);
    }
    if (status >= 500) return new TransientError(message, details);
    return new ClientError(message, details);
  }
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The signal for one attempt: aborted by the caller's signal, or once `timeoutMs` have passed.
 * axios' own `timeout` stops counting when the response starts, so a body that trickles in would
 * never time out; this deadline covers the whole exchange.
 */
function attemptSignal(timeoutMs: number, outer: AbortSignal | undefined) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const forward = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', forward, { once: true });
  return {
    signal: controller.signal,
    get timedOut(): boolean {
      return controller.signal.aborted && outer?.aborted !== true;
    },
    release(): void {
      clearTimeout(timer);
      outer?.removeEventListener('abort', forward);
    },
  };
}

/** What explains a network failure, without the axios error itself: its config and socket hold the token. */
function networkCause(error: unknown): Error {
  const cause = new Error(error instanceof Error ? error.message : String(error));
  if (axios.isAxiosError(error) && error.code !== undefined) Object.assign(cause, { code: error.code });
  return cause;
}

function describeNetworkError(error: unknown): string {
  if (axios.isAxiosError(error)) {
    if (error.code !== undefined && NETWORK_TIMEOUT_CODES.has(error.code)) return `timed out (${error.code})`;
    return error.code ?? error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
