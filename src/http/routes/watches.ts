import type { FastifyInstance } from 'fastify';
import { InputError } from '../../errors/input-error.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Runtime } from '../../runtime.js';
import { onAbort } from '../../support/on-abort.js';
import { finishedWatch, type OutcomeRecord, type Watch } from '../../watches/watch.js';
import type { WatchStateFilter } from '../../watches/watch-queue.js';
import { parseTimeout } from '../../watches/watch-request.js';
import { notFound } from '../errors.js';
import {
  batchRequestSchema,
  errorResponses,
  listQuerySchema,
  waitQuerySchema,
  watchIdParamsSchema,
  watchPageSchema,
  watchResultSchema,
} from '../schemas.js';
import { type TargetCheck, toWatchRequest, toWatchRequests, type WatchBody } from '../watch-body.js';

export interface WatchRoutesOptions {
  runtime: Runtime;
  metrics: Metrics;
  checkTarget: TargetCheck;
  /** Aborted when the server closes, so that long-polls answer instead of holding shutdown up. */
  closing: AbortSignal;
}

const DEFAULT_WAIT_MS = 30_000;
const MAX_WAIT_MS = 5 * 60_000;
const MAX_LIMIT = 1000;

const notFoundResponse = { 404: { description: 'No such watch', $ref: 'Error#' } } as const;

function noSuchWatch(id: string) {
  return notFound(`no watch with id ${id}`);
}

export async function watchRoutes(app: FastifyInstance, options: WatchRoutesOptions): Promise<void> {
  const { runtime, metrics, checkTarget, closing } = options;
  const watches = runtime.watches;

  app.post<{ Body: WatchBody }>(
    '/v1/watches',
    {
      schema: {
        tags: ['watches'],
        summary: 'Watch an action, or join the watch that already exists for it',
        body: { $ref: 'WatchRequest#' },
        response: {
          200: { description: 'The action was already watched: the existing watch', $ref: 'Watch#' },
          201: { description: 'A new watch', $ref: 'Watch#' },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const watchRequest = await toWatchRequest(request.body, checkTarget);
      const { watch, created } = await watches.watch(watchRequest);
      if (created) reply.code(201).header('location', `/v1/watches/${watch.id}`);
      return watch;
    },
  );

  app.post<{ Body: { watches: WatchBody[] } }>(
    '/v1/watches/batch',
    {
      schema: {
        tags: ['watches'],
        summary: `Watch up to ${MAX_LIMIT} actions at once: all of them, or (on any bad item) none`,
        body: batchRequestSchema,
        response: {
          200: {
            description: 'Every action was already watched',
            type: 'object',
            required: ['results'],
            properties: { results: { type: 'array', items: watchResultSchema } },
          },
          201: {
            description: 'At least one new watch; one result per distinct action, in request order',
            type: 'object',
            required: ['results'],
            properties: { results: { type: 'array', items: watchResultSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const requests = await toWatchRequests(request.body.watches, checkTarget);
      const results = await watches.watchMany(requests);
      if (results.some((result) => result.created)) reply.code(201);
      return { results };
    },
  );

  app.get<{
    Querystring: { state?: WatchStateFilter; kind?: Watch['kind']; limit?: string; cursor?: string };
  }>(
    '/v1/watches',
    {
      schema: {
        tags: ['watches'],
        summary: 'List watches, newest first, a page at a time',
        querystring: listQuerySchema,
        response: { 200: watchPageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { state, kind, limit, cursor } = request.query;
      const size = limit === undefined ? 100 : Number(limit);
      if (size < 1 || size > MAX_LIMIT) {
        throw new InputError(`query parameter limit must be from 1 to ${MAX_LIMIT} (got ${limit})`);
      }
      const page = await watches.list({
        limit: size,
        ...(state === undefined ? {} : { state }),
        ...(kind === undefined ? {} : { kind }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      return { watches: page.watches, nextCursor: page.nextCursor ?? null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/watches/:id',
    {
      schema: {
        tags: ['watches'],
        summary: 'One watch',
        params: watchIdParamsSchema,
        response: { 200: { $ref: 'Watch#' }, ...notFoundResponse, ...errorResponses },
      },
    },
    async (request) => {
      const watch = await watches.get(request.params.id);
      if (watch === undefined) throw noSuchWatch(request.params.id);
      return watch;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/watches/:id',
    {
      schema: {
        tags: ['watches'],
        summary:
          'Cancel a waiting watch (outcome cancelled, emitted like any other); a finished one is returned as is',
        params: watchIdParamsSchema,
        response: { 200: { $ref: 'Watch#' }, ...notFoundResponse, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const before = await watches.get(id);
      if (before === undefined) throw noSuchWatch(id);
      const watch = await watches.cancel(id);
      if (watch === undefined) throw noSuchWatch(id);
      // No worker reports a cancel (the outcome is recorded here), so this process counts it.
      if (before.state === 'waiting' && watch.outcome === 'cancelled') {
        const record = await watches.outcomes.get(id);
        if (record !== undefined) metrics.outcomeRecorded(record);
      }
      return watch;
    },
  );

  app.get<{ Params: { id: string }; Querystring: { timeout?: string } }>(
    '/v1/watches/:id/wait',
    {
      schema: {
        tags: ['watches'],
        summary: 'Long-poll: answers as soon as the watch has its outcome, or with 202 at the timeout',
        params: watchIdParamsSchema,
        querystring: waitQuerySchema,
        response: {
          200: { description: 'The watch, done', $ref: 'Watch#' },
          202: { description: 'Still waiting at the timeout: the watch as it is now', $ref: 'Watch#' },
          ...notFoundResponse,
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const timeoutMs = parseTimeout(request.query.timeout, 'query parameter timeout') ?? DEFAULT_WAIT_MS;
      if (timeoutMs > MAX_WAIT_MS) {
        throw new InputError(`query parameter timeout may be at most 5m (got ${request.query.timeout})`);
      }
      const current = await watches.get(id);
      if (current === undefined) throw noSuchWatch(id);
      if (current.state === 'done') return current;

      // The client went away, or the server is closing. Not AbortSignal.any([own, closing]): in
      // Node 20 each call leaves a WeakRef in `closing` for as long as the server runs.
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.once('close', onClose);
      const forgetClosing = onAbort(closing, onClose);
      let outcome: OutcomeRecord | undefined;
      try {
        outcome = await runtime.waitForOutcome(id, {
          timeoutMs,
          signal: gone.signal,
          enqueuedAt: current.enqueuedAt,
        });
      } catch (error) {
        if (!gone.signal.aborted) throw error;
      } finally {
        reply.raw.off('close', onClose);
        forgetClosing();
      }
      // The outcome of the watch it began with answers at once; anything else is read afresh.
      const watch =
        outcome?.watch.enqueuedAt === current.enqueuedAt
          ? finishedWatch(current, outcome)
          : ((await watches.get(id)) ?? current);
      if (watch.state !== 'done') reply.code(202);
      // Answered because the server is closing: no keep-alive for the client to reuse.
      if (closing.aborted) reply.header('connection', 'close');
      return watch;
    },
  );
}
