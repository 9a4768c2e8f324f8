import type { Metrics } from '../metrics/metrics.js';
import { DELIVERY_QUEUE } from '../notifications/webhooks/delivery-queue.js';
import type { Runtime } from '../runtime.js';
import { WATCH_QUEUE } from '../watches/keys.js';

/** Reports the depths of the watch and delivery queues on every scrape. */
export function trackQueueDepths(metrics: Metrics, runtime: Runtime): void {
  const deliveries = runtime.deliveries().queue;
  metrics.trackQueue(WATCH_QUEUE, runtime.watches, { isWatchQueue: true });
  metrics.trackQueue(DELIVERY_QUEUE, { counts: () => deliveries.getJobCounts() });
}
