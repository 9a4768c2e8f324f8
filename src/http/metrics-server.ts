import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Metrics } from '../metrics/metrics.js';
import type { Runtime } from '../runtime.js';
import { installErrorHandling } from './errors.js';
import { trackQueueDepths } from './queue-depths.js';
import { healthRoutes } from './routes/health.js';

export interface MetricsServerOptions {
  port: number;
  host: string;
}

/** A worker's own /metrics and /healthz (`actionwatch worker --metrics-port`): nothing else. */
export async function startMetricsServer(
  runtime: Runtime,
  metrics: Metrics,
  options: MetricsServerOptions,
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: runtime.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrorHandling(app);
  trackQueueDepths(metrics, runtime);
  await app.register(healthRoutes, { metrics });
  const url = await app.listen({ port: options.port, host: options.host });
  runtime.logger.info({ url: `${url}/metrics` }, `serving metrics at ${url}/metrics`);
  return app;
}
