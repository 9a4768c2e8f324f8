import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { Metrics } from '../metrics/metrics.js';
import { deliverableTarget } from '../notifications/webhooks/target-url.js';
import type { Runtime } from '../runtime.js';
import { VERSION } from '../version.js';
import { requireBearer } from './auth.js';
import { formatSchemaErrors, installErrorHandling } from './errors.js';
import { trackQueueDepths } from './queue-depths.js';
import { Readiness } from './readiness.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { watchRoutes } from './routes/watches.js';
import { SHARED_SCHEMAS } from './schemas.js';
import type { TargetCheck } from './watch-body.js';

export interface ServerOptions {
  /** Shared with a worker in the same process (`serve --with-worker`); a fresh one otherwise. */
  metrics?: Metrics;
  /** Largest accepted request body; default 1 MiB (a full batch of 1,000 watches fits). */
  bodyLimit?: number;
  /** Default 15 s. */
  heartbeatMs?: number;
  /** How often an event stream sends `watch.progress` for the watches it follows; default 5 s. */
  progressMs?: number;
  /** An event stream whose unsent data passes this is dropped as too slow; default 1 MiB. */
  maxBufferedBytes?: number;
  /** How long /readyz reuses a passed DigitalOcean token check; default 30 s. */
  readinessCacheMs?: number;
  /** Replaces the webhook URL check (validateTargetUrl plus the private-address guard). */
  checkTarget?: TargetCheck;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** 500 streams that all stop reading hold at most 500 MiB before each is dropped. */
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * The HTTP API over one Runtime: watches, live events, health, metrics, the queue dashboard and
 * its own OpenAPI document. `/v1/*` and the dashboard need `Authorization: Bearer <API_TOKEN>`
 * when API_TOKEN is set; health, metrics and the OpenAPI document do not.
 */
export async function buildServer(runtime: Runtime, options: ServerOptions = {}): Promise<FastifyInstance> {
  const { config } = runtime;
  const metrics = options.metrics ?? new Metrics();
  // Every open long-poll and event stream waits for the shutdown, through one listener (onAbort).
  const closing = new AbortController();
  const app = Fastify({
    loggerInstance: runtime.logger as FastifyBaseLogger,
    // The default request log line carries the query string, where a dashboard login puts the token.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // No coercion (a `true` must not pass as the id 1) and no silent dropping of unknown fields.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true },
    },
    schemaErrorFormatter: formatSchemaErrors,
  });
  installErrorHandling(app);
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      {
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'actionwatch',
        version: VERSION,
        description:
          'Durable waiting on DigitalOcean actions of every kind (droplets, images, volumes, reserved and floating IPs, NFS): watches, their outcomes as a live event stream, and operations endpoints.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'watches', description: 'Start, inspect, wait for and cancel watches' },
        { name: 'events', description: 'The live outcome stream' },
        { name: 'operations', description: 'Liveness, readiness and metrics (no token needed)' },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) => String(json.$id ?? `def-${index}`),
    },
  });
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  trackQueueDepths(metrics, runtime);
  metrics.observeEventFeed(runtime.events);
  const readiness = new Readiness({
    redis: runtime.redis,
    client: () => runtime.client({ budgetWaitMs: 1_000, onResponse: metrics.digitalOceanResponse }),
    ...(options.readinessCacheMs === undefined ? {} : { cacheMs: options.readinessCacheMs }),
  });

  await app.register(healthRoutes, { metrics, readiness });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(async (v1) => {
    v1.addHook('onRequest', requireBearer(config.api.token));
    await v1.register(watchRoutes, {
      runtime,
      metrics,
      checkTarget: options.checkTarget ?? deliverableTarget(config.webhooks.allowPrivate),
      closing: closing.signal,
    });
    await v1.register(eventRoutes, {
      runtime,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      progressMs: options.progressMs ?? 5_000,
      closing: closing.signal,
      maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
    });
  });
  await app.register(dashboardRoutes, {
    queues: [runtime.watches.queue, runtime.deliveries().queue],
    token: config.api.token,
  });

  // Long-polls and event streams would hold a graceful close open for as long as they last.
  app.addHook('preClose', async () => closing.abort());
  return app;
}
