import type { Logger } from '../../logging/logger.js';
import type { OutcomeSink } from '../../watches/outcome-sink.js';
import type { OutcomeRecord } from '../../watches/watch.js';
import type { DeliveryQueue, NewDelivery } from './delivery-queue.js';
import { deliveryJobIdFor, renderBody, webhookIdFor } from './webhook-message.js';
import { targetsFor, type WebhookTarget } from './webhook-targets.js';

export interface WebhookSinkOptions {
  deliveries: DeliveryQueue;
  /** The configured targets (WEBHOOK_URL, ALERT_WEBHOOK_URL); each watch may add its own. */
  targets: readonly WebhookTarget[];
  logger: Logger;
}

/**
 * Turns an outcome into delivery jobs. The watch worker runs it after recording the outcome and
 * before completing the watch job, and again if it crashed in between; the job ids derive from
 * the outcome and target, so the second run adds nothing and no message is lost or doubled.
 */
export class WebhookSink implements OutcomeSink {
  readonly name = 'webhooks';

  constructor(private readonly options: WebhookSinkOptions) {}

  async accept(record: OutcomeRecord): Promise<void> {
    const targets = await this.withoutGoneTargets(record, targetsFor(record, this.options.targets));
    const createdAt = new Date().toISOString();
    const deliveries: NewDelivery[] = targets.map((target) => ({
      jobId: deliveryJobIdFor(record, target),
      data: {
        webhookId: webhookIdFor(record, target),
        watchId: record.watch.id,
        type: record.type,
        target: target.url,
        format: target.format,
        source: target.source,
        body: renderBody(record, target.format),
        createdAt,
      },
    }));
    await this.options.deliveries.enqueue(deliveries);
    if (deliveries.length > 0) {
      this.options.logger.debug(
        { watchId: record.watch.id, type: record.type, messages: deliveries.length },
        'webhook messages queued',
      );
    }
  }

  private async withoutGoneTargets(
    record: OutcomeRecord,
    targets: WebhookTarget[],
  ): Promise<WebhookTarget[]> {
    const gone = await this.options.deliveries.goneAmong(
      targets.filter((target) => target.source === 'watch').map((target) => target.url),
    );
    if (gone.size === 0) return targets;
    this.options.logger.warn(
      { watchId: record.watch.id, targetHosts: [...gone].map((url) => new URL(url).host) },
      'not sending to per-watch webhook targets that answered 410 Gone (actionwatch webhooks retry re-enables one)',
    );
    return targets.filter((target) => !(target.source === 'watch' && gone.has(target.url)));
  }
}
