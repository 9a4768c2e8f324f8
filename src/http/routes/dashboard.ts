import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Secret } from '../../config/secret.js';
import { requireDashboardAccess } from '../auth.js';

export const DASHBOARD_PATH = '/admin/queues';

export interface DashboardOptions {
  queues: Queue[];
  token: Secret | undefined;
}

/**
 * Bull Board for the watch and delivery queues, read-only: a watch must end through the API (so
 * its outcome is recorded and emitted), never by a job being removed or retried by hand.
 */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  app.addHook('onRequest', requireDashboardAccess(options.token, DASHBOARD_PATH));
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'actionwatch' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
}
