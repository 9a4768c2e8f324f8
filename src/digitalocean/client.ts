import http from 'node:http';
import https from 'node:https';
import { inspect } from 'node:util';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import pRetry from 'p-retry';
import { z } from 'zod';
import type { Secret } from '../config/secret.js';
import {
  AnswerMismatchError,
  ClientError,
  ConnectionFailedError,
  type DigitalOceanApiError,
  ForbiddenError,
  NotFoundError,
  PageLinkError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
  UnreadableStartError,
} from '../errors/digitalocean-api-error.js';
import { InputError } from '../errors/input-error.js';
import type { Logger } from '../logging/logger.js';
import { USER_AGENT } from '../version.js';
import { type ActionQuestion, answerMismatch, rawAnswerMismatch } from './action-answer.js';
import {
  type Action,
  type ActionListResponse,
  type ActionResourceType,
  actionListResponseSchema,
  actionResponseSchema,
  actionSchema,
  type Droplet,
  type DropletActionRequest,
  type DropletCreateRequest,
  dropletCreateResponseSchema,
  dropletListResponseSchema,
  dropletResponseSchema,
  errorBodySchema,
  type Image,
  type ImageActionRequest,
  imageResponseSchema,
  type ResourceActionRequest,
  type ResourceId,
  type Snapshot,
  snapshotListResponseSchema,
  type WatchKind,
} from './models.js';
import { parseRateLimitHeaders, type RateLimitSnapshot, rateLimitWaitMs } from './rate-limit-headers.js';
import { type RequestGate, UNMETERED } from './request-gate.js';
import { resourceActionsPath, scopedActionsPath } from './resource-ids.js';

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

/** What every call resolves to: the parsed body plus the status and budget headers that came with it. */
interface Reply<T> {
  body: T;
  status: number;
  rateLimit: RateLimitSnapshot;
}

/** What a call sends, and (for a single-action GET) what its answer must be about. */
interface CallShape {
  body?: unknown;
  query?: Record<string, number | string>;
  /** The answer's `action` is checked against this (AnswerMismatchError when it is another). */
  question?: ActionQuestion;
}

type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** A droplet a POST /v2/droplets made, with the id of its `create` action. */
export interface CreatedDroplet {
  droplet: Droplet;
  actionId: number;
}

/** Any body at all, read as JSON where it is JSON: a POST's 2xx is checked after, not refused. */
const anyBody = z.unknown();

/** The shape every listing shares: its entries (by whichever key), links and meta. */
interface Listing {
  links?: { pages?: { next?: string | undefined } | undefined } | undefined;
  meta?: { total?: number | undefined } | undefined;
}

// The whole-exchange deadline is our own (the deadline signal of each request); this is the operating system's connect timeout.
const NETWORK_TIMEOUT_CODES = new Set(['ETIMEDOUT']);

/**
 * Failures that happen before a single byte reaches DigitalOcean: the connection was refused, or
 * the host name did not resolve. A reset or a timeout may come after the request landed.
 */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** A listing with no `meta.total` is followed this far at most (200 actions a page: 100,000). */
const MAX_UNCOUNTED_PAGES = 500;

/** A next link is followed on the configured base URL only when its path is one of the API's. */
const API_PATH = /^\/v2(\/[A-Za-z0-9_.~-]+)+$/;

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

  /**
   * GET /v2/actions/{id}. The answer must be that action (an AnswerMismatchError otherwise,
   * retried like a transient failure); this endpoint does not say whose it is, so the resource is
   * not checked.
   */
  async getAction(actionId: number, options?: CallOptions): Promise<Action> {
    const path = `/v2/actions/${actionId}`;
    const question = { actionId };
    return (await this.call('GET', path, actionResponseSchema, { ...options, question })).body.action;
  }

  /** GET the droplet's action; it must be that action, of that droplet where the answer says. */
  async getDropletAction(dropletId: number, actionId: number, options?: CallOptions): Promise<Action> {
    return this.getResourceAction('droplet', dropletId, actionId, options);
  }

  /** GET the image's action; it must be that action, of that image where the answer says. */
  async getImageAction(imageId: number, actionId: number, options?: CallOptions): Promise<Action> {
    return this.getResourceAction('image', imageId, actionId, options);
  }

  /**
   * GET the action through its resource's scoped endpoint, checked against the question. Kinds
   * DigitalOcean has no single-action GET for (reserved_ipv6, nfs, `action`) are read through
   * GET /v2/actions/{id}, and their answer's `resource_type` checked as well.
   */
  async getResourceAction(
    kind: WatchKind,
    resourceId: ResourceId | null,
    actionId: number,
    options?: CallOptions,
  ): Promise<Action> {
    const scoped = scopedActionsPath(kind, resourceId);
    const path = scoped === undefined ? `/v2/actions/${actionId}` : `${scoped}/${actionId}`;
    const question = { kind, resourceId, actionId };
    return (await this.call('GET', path, actionResponseSchema, { ...options, question })).body.action;
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

  /** One page of a resource's actions, for the kinds DigitalOcean lists per resource (hasScopedActions). */
  async listResourceActions(
    kind: WatchKind,
    resourceId: ResourceId,
    options?: PageOptions,
  ): Promise<ActionPage> {
    const path = scopedActionsPath(kind, resourceId);
    if (path === undefined) throw new InputError(`DigitalOcean lists no actions of a single ${kind}`);
    return this.listPage(path, options);
  }

  /**
   * Every action of a resource, page after page, following `links.pages.next` (see followPages).
   * An entry about another resource is left out.
   */
  async *iterateResourceActions(
    kind: WatchKind,
    resourceId: ResourceId,
    options: Omit<PageOptions, 'page'> = {},
  ): AsyncGenerator<Action> {
    const path = scopedActionsPath(kind, resourceId);
    if (path === undefined)
      throw new InputError(
        `DigitalOcean lists no actions of a single ${kind}; find its actions with \`actionwatch actions\` on another kind or watch one by its id`,
      );
    const listed = this.followPages(path, actionListResponseSchema, (body) => body.actions, options);
    for await (const action of listed) {
      const mismatch = answerMismatch(action, { kind, resourceId });
      if (mismatch === undefined) yield action;
      else
        this.logger?.warn({ path, problem: mismatch.problem }, `leaving out of ${path}: ${mismatch.problem}`);
    }
  }

  /**
   * Starts an image action. DigitalOcean has no idempotency key, so a POST is sent again only
   * when it provably never reached DigitalOcean (ConnectionFailedError), never after a timeout, a
   * reset or a 5xx: those may have started the action. A 2xx whose body does not name a valid
   * action of this image is an UnreadableStartError: the action started, and must be found, not
   * started again (see runs/).
   */
  async initiateImageAction(
    imageId: number,
    request: ImageActionRequest,
    options?: CallOptions,
  ): Promise<Action> {
    return this.initiate('image', imageId, request, options);
  }

  /** Starts a droplet action; sent again, answers read and checked as for image actions. */
  async initiateDropletAction(dropletId: number, request: DropletActionRequest, options?: CallOptions) {
    return this.initiate('droplet', dropletId, request, options);
  }

  /**
   * Starts an action on any resource (POST /v2/<collection>/{id}/actions): a volume by its UUID, a
   * reserved or floating IP by its address. Sent again, answers read and checked as for image
   * actions (the answer's `resource_type` must be the kind's; a volume's `resource_id` says nothing).
   */
  async initiateResourceAction(
    kind: ActionResourceType,
    resourceId: ResourceId,
    request: ResourceActionRequest,
    options?: CallOptions,
  ): Promise<Action> {
    return this.initiate(kind, resourceId, request, options);
  }

  private async initiate(
    kind: ActionResourceType,
    resourceId: ResourceId,
    request: ImageActionRequest | ResourceActionRequest,
    options?: CallOptions,
  ): Promise<Action> {
    const question: ActionQuestion = { kind, resourceId };
    const path = resourceActionsPath(kind, resourceId);
    const call = { retries: 0, ...options, body: request };
    // Read leniently here: a 2xx whose body is not the promised JSON is not a failure to retry.
    const { body, status, rateLimit } = await this.call('POST', path, anyBody, call);
    const answered = answeredAction(body);
    const mismatch = answered === undefined ? undefined : rawAnswerMismatch(answered, question);
    if (answered !== undefined && mismatch === undefined) return actionSchema.parse(answered);
    const problem = mismatch?.problem ?? 'a body that is not {"action": …}';
    throw new UnreadableStartError(`POST ${path} returned ${status} with ${problem}`, {
      status,
      method: 'POST',
      path,
      rateLimit,
    });
  }

  /**
   * POST /v2/droplets: creates one droplet (`name`) or several (`names`), each with a `create`
   * action. Sent again only when it provably never reached DigitalOcean, as for actions. The
   * answer lists the droplets and, in `links.actions`, one create action each, in the same order;
   * a 2xx that does not (not the documented shape, another count, other names) is an
   * UnreadableStartError: the droplets exist, and must be found, not created again.
   */
  async createDroplets(request: DropletCreateRequest, options?: CallOptions): Promise<CreatedDroplet[]> {
    const path = '/v2/droplets';
    const { body, status, rateLimit } = await this.call('POST', path, anyBody, {
      retries: 0,
      ...options,
      body: request,
    });
    const names = 'names' in request ? request.names : [request.name];
    const parsed = dropletCreateResponseSchema.safeParse(body);
    const answer = parsed.data as { droplet?: Droplet; droplets?: Droplet[] } | undefined;
    const droplets = answer?.droplets ?? (answer?.droplet === undefined ? [] : [answer.droplet]);
    const actions = parsed.success ? parsed.data.links.actions : [];
    const problem = !parsed.success
      ? 'a body that is not {"droplet" or "droplets": …, "links": {"actions": […]}}'
      : droplets.length !== names.length || actions.length !== names.length
        ? `${droplets.length} droplets and ${actions.length} actions for ${names.length} names`
        : droplets.some((droplet, i) => droplet.name !== undefined && droplet.name !== names[i])
          ? 'droplets named other than asked'
          : undefined;
    if (problem !== undefined)
      throw new UnreadableStartError(`POST ${path} returned ${status} with ${problem}`, {
        status,
        method: 'POST',
        path,
        rateLimit,
      });
    return droplets.map((droplet, i) => ({ droplet, actionId: (actions[i] as { id: number }).id }));
  }

  /** GET /v2/droplets/{id}; a NotFoundError once it is gone. */
  async getDroplet(dropletId: number, options?: CallOptions): Promise<Droplet> {
    const path = `/v2/droplets/${dropletId}`;
    return (await this.call('GET', path, dropletResponseSchema, options)).body.droplet;
  }

  /**
   * DELETE /v2/droplets/{id} (204). Like a POST, sent again only when it never reached
   * DigitalOcean; a 404 (already gone) is a NotFoundError for the caller to read as done.
   */
  async deleteDroplet(dropletId: number, options?: CallOptions): Promise<void> {
    await this.call('DELETE', `/v2/droplets/${dropletId}`, anyBody, { retries: 0, ...options });
  }

  /**
   * The droplets carrying `tag` (GET /v2/droplets?tag_name=…), from one page of 200: enough for
   * the tags actionwatch gives one create request (at most ten droplets each).
   */
  async listDropletsByTag(tag: string, options?: CallOptions): Promise<Droplet[]> {
    const query = { tag_name: tag, per_page: 200 };
    return (await this.call('GET', '/v2/droplets', dropletListResponseSchema, { ...options, query })).body
      .droplets;
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
    yield* this.followPages(path, snapshotListResponseSchema, (body) => body.snapshots, options);
  }

  /**
   * The pages of a listing: the first one, then each `links.pages.next` in turn. The link is
   * followed on the configured base URL, whatever host it names (see nextPagePath), so a proxy or
   * the simulator works and the token never goes to another host. A link that is not an API
   * path, that leads back to a page already read, or that goes on past `meta.total` fails the
   * listing (PageLinkError) rather than return part of it. A listing shifts while we page through
   * it when actions are added (newest first), so an entry can turn up on two pages: each is
   * yielded once.
   */
  private async *followPages<S extends z.ZodType, T extends { id: number }>(
    path: string,
    schema: S,
    itemsOf: (body: z.infer<S>) => T[],
    options: Omit<PageOptions, 'page'>,
  ): AsyncGenerator<T> {
    const perPage = options.perPage ?? 200;
    const read = new Set<string>();
    const seen = new Set<number>();
    let next: string | undefined = `${path}?page=1&per_page=${perPage}`;
    let limit = MAX_UNCOUNTED_PAGES;
    while (next !== undefined) {
      read.add(next);
      const { body } = await this.call('GET', next, schema, options);
      const items = itemsOf(body);
      for (const item of items) {
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        yield item;
      }
      const { links, meta } = body as Listing;
      const total = meta?.total;
      if (total !== undefined) limit = Math.ceil(total / perPage) + 2;
      next = items.length === 0 ? undefined : this.nextPagePath(path, links?.pages?.next);
      if (next !== undefined && read.has(next))
        throw new PageLinkError(`${path}: the next-page link ${next} leads back to a page already read`, {
          method: 'GET',
          path,
        });
      if (next !== undefined && read.size >= limit)
        throw new PageLinkError(
          `${path}: still linking to a next page after ${read.size} pages${total === undefined ? '' : ` (meta.total is ${total})`}`,
          { method: 'GET', path },
        );
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
   * The path and query to request for `links.pages.next`, on the configured base URL whatever host
   * the link names (a base path of its own, as a proxy may have, is kept once). A link to another
   * API path keeps only its query on the listed path: the documented examples link an image's
   * actions to `/v2/images?page=2`, and paging another collection would mix it into this one.
   * undefined when there is no next page.
   */
  private nextPagePath(listed: string, next: string | undefined): string | undefined {
    if (next === undefined || next === '') return undefined;
    const base = new URL(this.baseUrl);
    const basePath = base.pathname.replace(/\/+$/, '');
    let url: URL | undefined;
    try {
      url = new URL(next, `${this.baseUrl}/`);
    } catch {
      url = undefined;
    }
    let linked = url?.pathname ?? '';
    if (url?.origin === base.origin && basePath !== '' && linked.startsWith(`${basePath}/`))
      linked = linked.slice(basePath.length);
    if (url === undefined || !API_PATH.test(linked))
      throw new PageLinkError(
        `${listed}: the next-page link ${JSON.stringify(next)} is not a DigitalOcean API path; not returning a partial listing`,
        { method: 'GET', path: listed },
      );
    if (url.origin !== base.origin || linked !== listed)
      this.logger?.debug({ listed, next }, `following the next-page link as ${listed}${url.search}`);
    return `${listed}${url.search}`;
  }

  private async call<S extends z.ZodType>(
    method: HttpMethod,
    path: string,
    schema: S,
    options: CallOptions & CallShape = {},
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
      // A POST or DELETE that may have landed is never sent again: only one that never left is.
      shouldRetry: ({ error }) =>
        method === 'GET' ? error instanceof TransientError : error instanceof ConnectionFailedError,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (
          error instanceof TransientError &&
          retriesLeft > 0 &&
          (method === 'GET' || error instanceof ConnectionFailedError)
        ) {
          this.logger?.debug(
            { method, path, attemptNumber, retriesLeft, err: error.message },
            'transient failure, retrying',
          );
        }
      },
    });
  }

  private async send<S extends z.ZodType>(
    method: HttpMethod,
    path: string,
    schema: S,
    options: CallOptions & CallShape,
  ): Promise<Reply<z.infer<S>>> {
    await this.gate.acquire({
      maxWaitMs: this.budgetWaitMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    options.signal?.throwIfAborted();
    // axios' own `timeout` stops counting when the response starts, so a body that trickles in
    // would never time out; this deadline covers the whole exchange.
    const deadline = AbortSignal.timeout(this.timeoutMs);
    let response: AxiosResponse<string>;
    try {
      response = await this.http.request<string>({
        method,
        url: path,
        ...(options.query === undefined ? {} : { params: options.query }),
        ...(options.body === undefined ? {} : { data: options.body }),
        signal: options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]),
      });
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const timedOut = deadline.aborted;
      const why = timedOut ? `timed out after ${this.timeoutMs} ms` : describeNetworkError(error);
      const details = { method, path, cause: networkCause(error) };
      const neverSent = !timedOut && axios.isAxiosError(error) && NEVER_SENT_CODES.has(error.code ?? '');
      if (neverSent) throw new ConnectionFailedError(`${method} ${path} failed: ${why}`, details);
      throw new TransientError(`${method} ${path} failed: ${why}`, details);
    }

    const rateLimit = parseRateLimitHeaders(response.headers as Record<string, unknown>);
    // Budget headers a response lacks keep their last value; retry-after belongs to its 429 alone.
    const { retryAfterMs: _previousRetryAfter, ...lastBudget } = this.lastRateLimit;
    this.lastRateLimit = { ...lastBudget, ...rateLimit };
    this.onResponse?.({ method, path, status: response.status, rateLimit });
    await this.gate.observe(rateLimit);

    if (response.status >= 200 && response.status < 300) {
      const json = parseJson(response.data);
      const details = { status: response.status, method, path, rateLimit };
      const question = options.question;
      const answered = answeredAction(json);
      const mismatch =
        question === undefined || answered === undefined ? undefined : rawAnswerMismatch(answered, question);
      if (question !== undefined && mismatch !== undefined) {
        throw new AnswerMismatchError(
          `${method} ${path} returned ${response.status} with ${mismatch.problem}`,
          question.actionId,
          mismatch.answeredId,
          mismatch.fault,
          details,
        );
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const message = `${method} ${path} returned ${response.status} with a body that is not the expected JSON`;
        throw new TransientError(message, details);
      }
      return { body: parsed.data, rateLimit, status: response.status };
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

/** The `action` of an `{"action": …}` body, as it came; undefined for any other body. */
function answeredAction(json: unknown): unknown {
  return typeof json === 'object' && json !== null && 'action' in json ? json.action : undefined;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
