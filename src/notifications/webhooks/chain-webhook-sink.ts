import type { ChainOutcome, ChainOutcomeRecord } from '../../chains/chain.js';
import type { ChainOutcomeSink } from '../../chains/chain-sink.js';
import type { Outcome } from '../../watches/watch.js';
import { renderChainBody } from './chain-webhook-message.js';
import { queueOutcomeMessages, type WebhookSinkOptions } from './webhook-sink.js';
import { targetsForOutcome } from './webhook-targets.js';

/**
 * Which action outcome a chain outcome counts as for the targets' filters (WEBHOOK_ON,
 * ALERT_WEBHOOK_ON, a webhook's `on`): the same one, except that a step DigitalOcean refused to
 * start (`rejected`) counts as `errored`. So WEBHOOK_URL gets every chain event unless WEBHOOK_ON
 * narrows it, and the alert target gets `chain.failed` (errored, rejected, not_found, timed_out).
 */
export function filterOutcomeOf(outcome: ChainOutcome): Outcome {
  return outcome === 'rejected' ? 'errored' : outcome;
}

/**
 * Queues a webhook message per chain outcome and target: the configured targets and the plan's
 * `webhooks`. The chain worker runs it before the chain job completes, and again after a crash;
 * the ids derive from the chain id, its finishedAt and the target, so nothing is queued twice.
 */
export class ChainWebhookSink implements ChainOutcomeSink {
  readonly name = 'chain-webhooks';

  constructor(private readonly options: WebhookSinkOptions) {}

  async accept(record: ChainOutcomeRecord): Promise<void> {
    await queueOutcomeMessages(this.options, {
      subjectId: record.chain.id,
      type: record.type,
      finishedAt: record.chain.finishedAt,
      targets: targetsForOutcome(filterOutcomeOf(record.outcome), record.webhooks, this.options.targets),
      render: (format) => renderChainBody(record, format),
    });
  }
}
