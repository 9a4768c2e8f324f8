import { createHash } from 'node:crypto';
import type { Action } from '../../digitalocean/models.js';
import type { Outcome, OutcomeRecord } from '../../watches/watch.js';
import { describeRef } from '../../watches/watch-ref.js';
import type { WebhookFormat, WebhookTarget } from './webhook-targets.js';

/** The JSON body every `json` target receives. */
export interface WebhookPayload {
  type: `action.${Outcome}`;
  timestamp: string;
  data: {
    watch: {
      id: string;
      kind: OutcomeRecord['watch']['kind'];
      resourceId: OutcomeRecord['watch']['resourceId'];
      /** Null for a deletion watch, which has no action. */
      actionId: number | null;
      /** `deletion` for a deletion watch; absent on every action watch. */
      awaits?: 'deletion';
      enqueuedAt: string;
      finishedAt: string;
    };
    action: Action | null;
  };
}

export function webhookPayload(record: OutcomeRecord): WebhookPayload {
  const { id, kind, resourceId, actionId, awaits, enqueuedAt, finishedAt } = record.watch;
  return {
    type: record.type,
    // The outcome's time, not the send time: every attempt and every re-run sends the same bytes.
    timestamp: finishedAt,
    data: {
      watch: {
        id,
        kind,
        resourceId,
        actionId,
        ...(awaits === undefined ? {} : { awaits }),
        enqueuedAt,
        finishedAt,
      },
      action: record.action,
    },
  };
}

const SLACK_ICONS: Record<Outcome, string> = {
  completed: ':white_check_mark:',
  errored: ':x:',
  not_found: ':grey_question:',
  timed_out: ':hourglass:',
  cancelled: ':no_entry_sign:',
};

/** One line a person reads in a channel; Slack's `{"text"}` incoming-webhook body. */
export function slackText(record: OutcomeRecord): string {
  const { watch, action, outcome, reason } = record;
  const type = action?.type === undefined ? '' : ` (${action.type})`;
  const why = reason === undefined ? '' : `: ${reason}`;
  return `${SLACK_ICONS[outcome]} actionwatch: ${describeRef(watch)}${type} ${outcome}${why}`;
}

export function renderBody(record: OutcomeRecord, format: WebhookFormat): string {
  return JSON.stringify(format === 'slack' ? { text: slackText(record) } : webhookPayload(record));
}

function digest(subjectId: string, finishedAt: string, target: WebhookTarget): string {
  // finishedAt tells apart the outcomes of a watch that was cancelled and then watched again.
  return createHash('sha256')
    .update([subjectId, finishedAt, target.format, target.url].join('\n'))
    .digest('hex');
}

/**
 * The `webhook-id` of the message for one outcome and one target: derived, so that a sink run
 * twice (after a crash) produces the same id, and receivers can deduplicate on it.
 */
export function webhookIdFor(record: OutcomeRecord, target: WebhookTarget): string {
  return messageIdsFor(record.watch.id, record.watch.finishedAt, target).webhookId;
}

/** The delivery job id: the watch id (readable in queue tools) plus the target; never a `:`. */
export function deliveryJobIdFor(record: OutcomeRecord, target: WebhookTarget): string {
  return messageIdsFor(record.watch.id, record.watch.finishedAt, target).jobId;
}

/** Both ids of the message about one outcome (of a watch or a chain, by its id) to one target. */
export function messageIdsFor(
  subjectId: string,
  finishedAt: string,
  target: WebhookTarget,
): { webhookId: string; jobId: string } {
  const hex = digest(subjectId, finishedAt, target);
  return { webhookId: `msg_${hex.slice(0, 32)}`, jobId: `${subjectId}-${hex.slice(0, 12)}` };
}
