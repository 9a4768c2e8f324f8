import http from 'node:http';
import https from 'node:https';
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
  type ImageActionRequest,
  type ResourceKind,
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

const NETWORK_TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT']);

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
  private lastRateLimit: RateLimitSnapshot = {};

  constructor(options: DigitalOceanClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.gate = options.gate ?? UNMETERED;
    this.retries = options.retries ?? 3;
    this.maxRetryTimeMs = options.maxRetryTimeMs ?? 20_000;
    this.budgetWaitMs = options.budgetWaitMs ?? 2_000;
    this.logger = options.logger;
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.http = axios.create({
      baseURL: this.baseUrl,
      timeout: options.timeoutMs ?? 10_000,
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
    let path: string | undefined = `/v2/${kind}s/${resourceId}/actions`;
    let page = 1;
    const perPage = options.perPage ?? 200;
    while (path !== undefined) {
      const listing: ActionPage = await this.listPage(path, { ...options, page, perPage });
      yield* listing.actions;
      const next: PageCursor | undefined = this.nextPage(listing.links.next);
      if (next === undefined || listing.actions.length === 0) break;
      path = next.path;
      page = next.page;
    }
  }

  async initiateImageAction(
    imageId: number,
    request: ImageActionRequest,
    options?: CallOptions,
  ): Promise<Action> {
    const path = `/v2/images/${imageId}/actions`;
    return (await this.call('POST', path, actionResponseSchema, { ...options, body: request })).body.action;
  }

  async initiateDropletAction(dropletId: number, request: DropletActionRequest, options?: CallOptions) {
    const path = `/v2/droplets/${dropletId}/actions`;
    return (await this.call('POST', path, actionResponseSchema, { ...options, body: request })).body.action;
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
   * can never steer the token to another server.
   */
  private nextPage(next: string | undefined): PageCursor | undefined {
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
    return Number.isInteger(page) && page > 0 ? { path: url.pathname, page } : undefined;
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
    let response: AxiosResponse<string>;
    try {
      response = await this.http.request<string>({
        method,
        url: path,
        ...(options.query === undefined ? {} : { params: options.query }),
        ...(options.body === undefined ? {} : { data: options.body }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      throw new TransientError(`${method} ${path} failed: ${describeNetworkError(error)}`, {
        method,
        path,
        cause: error,
      });
    }

    const rateLimit = parseRateLimitHeaders(response.headers as Record<string, unknown>);
    this.lastRateLimit = { ...this.lastRateLimit, ...rateLimit };
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

interface PageCursor {
  path: string;
  page: number;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeNetworkError(error: unknown): string {
  if (axios.isAxiosError(error)) {
    if (error.code !== undefined && NETWORK_TIMEOUT_CODES.has(error.code)) return `timed out (${error.code})`;
    return error.code ?? error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
