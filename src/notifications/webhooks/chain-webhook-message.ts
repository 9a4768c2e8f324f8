import type { ChainEventType, ChainOutcome, ChainOutcomeRecord, StepState } from '../../chains/chain.js';
import type { Outcome } from '../../watches/watch.js';
import type { WebhookFormat } from './webhook-targets.js';

/** One action of a step, as far as it got: enough to find it in DigitalOcean. */
export interface ChainRunSummary {
  kind: string;
  type: string;
  /** A droplet's or image's number, a volume's UUID or an IP address. */
  resourceId?: number | string;
  region?: string;
  actionId?: number;
  outcome?: Outcome;
  /** For a droplet snapshot: the image it made. */
  imageId?: number;
  /** For a create: the droplet it made. */
  dropletId?: number;
  /** For a create with `until: active`: the droplet's public IPv4 address. */
  ipv4?: string;
}

export interface ChainStepSummary {
  id: string;
  status: StepState['status'];
  runs: ChainRunSummary[];
}

/**
 * The JSON body a `json` target receives for a chain's outcome:
 * `{"type": "chain.completed" | "chain.failed" | "chain.cancelled", "timestamp", "data": {"chain"}}`.
 */
export interface ChainWebhookPayload {
  type: ChainEventType;
  timestamp: string;
  data: {
    chain: {
      id: string;
      name?: string;
      outcome: ChainOutcome;
      /** The step that stopped the chain, and why (absent when it completed). */
      failedStep?: string;
      reason?: string;
      submittedAt: string;
      finishedAt: string;
      steps: ChainStepSummary[];
      /** The plan's onFailure (cleanup) steps, when it has any. */
      onFailure?: ChainStepSummary[];
    };
  };
}

function runSummary(run: StepState['runs'][number]): ChainRunSummary {
  const { kind, type, resourceId, region, actionId, outcome, imageId, dropletId, ipv4 } = run;
  return {
    kind,
    type,
    ...(resourceId === undefined ? {} : { resourceId }),
    ...(region === undefined ? {} : { region }),
    ...(actionId === undefined ? {} : { actionId }),
    ...(outcome === undefined ? {} : { outcome }),
    ...(imageId === undefined ? {} : { imageId }),
    ...(dropletId === undefined ? {} : { dropletId }),
    ...(ipv4 === undefined ? {} : { ipv4 }),
  };
}

function stepSummary(step: StepState): ChainStepSummary {
  return { id: step.id, status: step.status, runs: step.runs.map(runSummary) };
}

export function chainWebhookPayload(record: ChainOutcomeRecord): ChainWebhookPayload {
  const { id, name, createdAt, finishedAt } = record.chain;
  return {
    type: record.type,
    // The outcome's time, not the send time: every attempt and every re-run sends the same bytes.
    timestamp: finishedAt,
    data: {
      chain: {
        id,
        ...(name === undefined ? {} : { name }),
        outcome: record.outcome,
        ...(record.failedStep === undefined ? {} : { failedStep: record.failedStep }),
        ...(record.reason === undefined ? {} : { reason: record.reason }),
        submittedAt: createdAt,
        finishedAt,
        steps: record.steps.map(stepSummary),
        ...(record.onFailure === undefined ? {} : { onFailure: record.onFailure.map(stepSummary) }),
      },
    },
  };
}

const SLACK_ICONS: Record<ChainOutcome, string> = {
  completed: ':white_check_mark:',
  errored: ':x:',
  rejected: ':x:',
  not_found: ':grey_question:',
  timed_out: ':hourglass:',
  cancelled: ':no_entry_sign:',
};

/** One line a person reads in a channel; Slack's `{"text"}` incoming-webhook body. */
export function chainSlackText(record: ChainOutcomeRecord): string {
  const { chain, outcome, failedStep, reason } = record;
  const name = chain.name === undefined ? '' : ` (${chain.name})`;
  const where = failedStep === undefined ? '' : ` at step ${failedStep}`;
  const why = reason === undefined ? '' : `: ${reason}`;
  return `${SLACK_ICONS[outcome]} actionwatch: chain ${chain.id}${name} ${outcome}${where}${why}`;
}

export function renderChainBody(record: ChainOutcomeRecord, format: WebhookFormat): string {
  return JSON.stringify(format === 'slack' ? { text: chainSlackText(record) } : chainWebhookPayload(record));
}
