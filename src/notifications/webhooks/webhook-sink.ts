import type { Logger } from '../../logging/logger.js';
import type { OutcomeSink } from '../../watches/outcome-sink.js';
import type { OutcomeRecord } from '../../watches/watch.js';
import type { DeliveryJobData, DeliveryQueue, NewDelivery } from './delivery-queue.js';
import { messageIdsFor, renderBody } from './webhook-message.js';
import { targetsFor, type WebhookFormat, type WebhookTarget } from './webhook-targets.js';

export interface WebhookSinkOptions {
  deliveries: DeliveryQueue;
  /** The configured targets (WEBHOOK_URL, ALERT_WEBHOOK_URL); each watch may add its own. */
  targets: readonly WebhookTarget[];
  logger: Logger;
}

/** One outcome (of a watch or a chain) to announce, already routed to its targets. */
export interface OutcomeMessage {
  /** The watch or chain id: with finishedAt and the target, it fixes the message ids. */
  subjectId: string;
  type: DeliveryJobData['type'];
  finishedAt: string;
  targets: WebhookTarget[];
  render(format: WebhookFormat): string;
}

/**
 * Queues one delivery per target in one atomic step, minus the per-watch targets that answered
 * 410 Gone. Ids derive from the outcome and target, so running it again after a crash adds nothing.
 */
export async function queueOutcomeMessages(
  options: WebhookSinkOptions,
  message: OutcomeMessage,
): Promise<void> {
  const targets = await withoutGoneTargets(options, message.subjectId, message.targets);
  const createdAt = new Date().toISOString();
  const deliveries: NewDelivery[] = targets.map((target) => {
    const { webhookId, jobId } = messageIdsFor(message.subjectId, message.finishedAt, target);
    return {
      jobId,
      data: {
        webhookId,
        watchId: message.subjectId,
        type: message.type,
        target: target.url,
        format: target.format,
        source: target.source,
        body: message.render(target.format),
        createdAt,
      },
    };
  });
  await options.deliveries.enqueue(deliveries);
  if (deliveries.length > 0) {
    options.logger.debug(
      { watchId: message.subjectId, type: message.type, messages: deliveries.length },
      'webhook messages queued',
    );
  }
}

async function withoutGoneTargets(
  options: WebhookSinkOptions,
  subjectId: string,
  targets: WebhookTarget[],
): Promise<WebhookTarget[]> {
  const gone = await options.deliveries.goneAmong(
    targets.filter((target) => target.source === 'watch').map((target) => target.url),
  );
  if (gone.size === 0) return targets;
  options.logger.warn(
    { watchId: subjectId, targetHosts: [...gone].map((url) => new URL(url).host) },
    'not sending to per-watch webhook targets that answered 410 Gone (actionwatch webhooks retry re-enables one)',
  );
  return targets.filter((target) => !(target.source === 'watch' && gone.has(target.url)));
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
    await queueOutcomeMessages(this.options, {
      subjectId: record.watch.id,
      type: record.type,
      finishedAt: record.watch.finishedAt,
      targets: targetsFor(record, this.options.targets),
      render: (format) => renderBody(record, format),
    });
  }
}
