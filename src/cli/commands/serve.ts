import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/config.js';
import { assertSafeBinding } from '../../http/auth.js';
import { withRuntime } from '../context.js';
import { port, positiveInteger } from '../parsers.js';

const SHUTDOWN_GRACE_MS = 5_000;

interface ServeOptions {
  port: number;
  host: string;
  withWorker?: boolean;
  concurrency?: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'serve the HTTP API (/v1), live events, /metrics, /readyz and the queue dashboard until SIGINT/SIGTERM',
    )
    .option('--port <port>', 'port to listen on', port('--port'), 8080)
    .option('--host <host>', 'address to listen on; any but loopback needs API_TOKEN', '127.0.0.1')
    .option('--with-worker', 'also poll watched actions in this process')
    .option(
      '--concurrency <n>',
      'with --with-worker: polls in flight at once (default WORKER_CONCURRENCY)',
      positiveInteger('--concurrency'),
    )
    .action(async (options: ServeOptions) => {
      // Before touching Redis: an open API on a reachable address is refused outright.
      assertSafeBinding(options.host, loadConfig(process.env).api.token);
      const tokenPurpose = 'serve --with-worker needs it to poll DigitalOcean';
      await withRuntime({ needsToken: options.withWorker === true, tokenPurpose }, async (runtime) => {
        // Fastify, Bull Board and prom-client load only here: every other command (the worker
        // above all) stays without them.
        const [{ buildServer }, { Metrics }] = await Promise.all([
          import('../../http/server.js'),
          import('../../metrics/metrics.js'),
        ]);
        const metrics = new Metrics({ processMetrics: true });
        const worker = options.withWorker
          ? await runtime.startWorker({
              metrics,
              ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
            })
          : undefined;
        const app = await buildServer(runtime, { metrics });
        await app.listen({ port: options.port, host: options.host });
        if (runtime.config.api.token === undefined) {
          runtime.logger.warn('API_TOKEN is not set: anyone on this machine can use the API');
        }
        const url = `http://${formatHost(options.host)}:${listeningPort(app)}`;
        runtime.logger.info(
          { url, withWorker: worker !== undefined },
          `serving the actionwatch API at ${url}`,
        );
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        });
        runtime.logger.info({ signal }, 'stopping: closing streams and finishing requests');
        // Streams end and long-polls are answered at once. Keep-alive connections that turn idle
        // meanwhile are closed as they do; any still open after the grace must not hold the
        // shutdown up.
        const idle = setInterval(() => app.server.closeIdleConnections(), 250);
        const grace = setTimeout(() => {
          runtime.logger.warn('HTTP connections still open after 5 s of stopping: closing them');
          app.server.closeAllConnections();
        }, SHUTDOWN_GRACE_MS);
        await app.close();
        clearInterval(idle);
        clearTimeout(grace);
        runtime.logger.info('API closed: every stream ended, every long-poll answered; stopping the worker');
        await worker?.close();
        runtime.logger.info('server stopped');
      });
    });
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The real port, for `--port 0`. */
function listeningPort(app: FastifyInstance): number | undefined {
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : undefined;
}
