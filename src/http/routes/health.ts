import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics/metrics.js';
import type { Readiness } from '../readiness.js';

export interface HealthRoutesOptions {
  metrics: Metrics;
  /** Absent on a worker's metrics port, which has no readiness to report. */
  readiness?: Readiness;
}

const check = {
  type: 'object',
  required: ['ok'],
  properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
} as const;

const readinessReport = {
  type: 'object',
  required: ['ready', 'checks'],
  properties: {
    ready: { type: 'boolean' },
    checks: {
      type: 'object',
      required: ['redis', 'digitalocean'],
      properties: { redis: check, digitalocean: check },
    },
  },
} as const;

/** Unauthenticated operations routes: liveness, readiness and Prometheus metrics. */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const { metrics, readiness } = options;
  const open = { tags: ['operations'], security: [] };

  app.get(
    '/healthz',
    {
      schema: {
        ...open,
        summary: 'The process is up',
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['ok'] } },
          },
        },
      },
    },
    async () => ({ status: 'ok' }),
  );

  if (readiness !== undefined) {
    app.get(
      '/readyz',
      {
        schema: {
          ...open,
          summary: 'Redis answers and DigitalOcean accepts the token (checked at most every 30 s)',
          response: {
            200: { description: 'Ready', ...readinessReport },
            503: { description: 'Not ready: the failing check says why', ...readinessReport },
          },
        },
      },
      async (_request, reply) => {
        const report = await readiness.check();
        if (!report.ready) reply.code(503);
        return report;
      },
    );
  }

  app.get(
    '/metrics',
    {
      schema: {
        ...open,
        summary: 'Prometheus metrics',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.contentType);
      return metrics.render();
    },
  );
}
