import type { ResourceId, RunKind } from '../digitalocean/models.js';
import type { Outcome, WatchWebhook } from '../watches/watch.js';
import type { ChainPlan } from './chain-plan.js';
import { hasReference } from './plan-references.js';

/**
 * How a chain ended. `rejected`: DigitalOcean refused to start a step's action (a 422 other than
 * a busy resource, or a busy resource past `retryPending`), or a reference could not be resolved.
 */
export const CHAIN_OUTCOMES = [
  'completed',
  'errored',
  'not_found',
  'timed_out',
  'cancelled',
  'rejected',
] as const;
export type ChainOutcome = (typeof CHAIN_OUTCOMES)[number];

export const CHAIN_EVENT_TYPES = ['chain.completed', 'chain.failed', 'chain.cancelled'] as const;
export type ChainEventType = (typeof CHAIN_EVENT_TYPES)[number];

export function chainEventType(outcome: ChainOutcome): ChainEventType {
  if (outcome === 'completed') return 'chain.completed';
  if (outcome === 'cancelled') return 'chain.cancelled';
  return 'chain.failed';
}

export type StepStatus = 'pending' | 'starting' | 'watching' | 'resolving' | 'completed' | 'failed';

/** One action of a step, as far as it got. */
export interface RunState {
  kind: RunKind;
  type: string;
  /** Known once the run's references are resolved: a number, or a volume UUID or IP address. */
  resourceId?: ResourceId;
  region?: string;
  actionId?: number;
  watchId?: string;
  outcome?: Outcome;
  /** For a droplet snapshot: the image it made. */
  imageId?: number;
  /** When DigitalOcean first answered "busy" (422 pending event), for `retryPending`. */
  busySince?: number;
  /** The next wait before trying a busy resource again. */
  retryDelayMs?: number;
}

export interface StepState {
  id: string;
  status: StepStatus;
  startedAt?: string;
  /** When every action of the step had ended. */
  settledAt?: string;
  finishedAt?: string;
  runs: RunState[];
  /** Why the step failed, in words. */
  reason?: string;
}

/** What `<prefix>:chain:<id>` holds. Only the worker holding the chain job writes it. */
export interface ChainRecord {
  id: string;
  key?: string;
  /** Binds a key to its plan: the same key with another plan is refused. */
  fingerprint: string;
  createdAt: string;
  plan: ChainPlan;
  /** Index of the step in progress (= steps.length once every step completed). */
  current: number;
  steps: StepState[];
  updatedAt: string;
}

/** A chain's outcome, recorded once and appended once to `<prefix>:events` (watch = chain id). */
export interface ChainOutcomeRecord {
  type: ChainEventType;
  outcome: ChainOutcome;
  chain: {
    id: string;
    name?: string;
    createdAt: string;
    finishedAt: string;
  };
  /** Each step as it ended: its runs' action ids, outcomes and (snapshots) image ids. */
  steps: StepState[];
  /** The step that stopped the chain (absent for completed). */
  failedStep?: string;
  reason?: string;
  webhooks?: WatchWebhook[];
}

/** The public view of a chain: what `chains show` prints and the library returns. */
export interface Chain {
  id: string;
  name?: string;
  key?: string;
  state: 'running' | 'done';
  outcome: ChainOutcome | null;
  /** The id of the step in progress, or null when done. */
  currentStep: string | null;
  steps: StepState[];
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  failedStep?: string;
  reason?: string;
}

export function chainFrom(record: ChainRecord, outcome: ChainOutcomeRecord | undefined): Chain {
  const steps = outcome?.steps ?? record.steps;
  const failedStep = outcome?.failedStep;
  const reason = outcome?.reason;
  return {
    id: record.id,
    ...(record.plan.name === undefined ? {} : { name: record.plan.name }),
    ...(record.key === undefined ? {} : { key: record.key }),
    state: outcome === undefined ? 'running' : 'done',
    outcome: outcome?.outcome ?? null,
    currentStep: outcome === undefined ? (record.steps[record.current]?.id ?? null) : null,
    steps,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    finishedAt: outcome?.chain.finishedAt ?? null,
    ...(failedStep === undefined ? {} : { failedStep }),
    ...(reason === undefined ? {} : { reason }),
  };
}

export function initialSteps(plan: ChainPlan): StepState[] {
  return plan.steps.map((step) => ({
    id: step.id,
    status: 'pending',
    runs: step.runs.map((run) => ({
      kind: run.kind,
      type: run.type,
      ...(hasReference(run.resourceId) ? {} : { resourceId: run.resourceId }),
      ...(run.region === undefined ? {} : { region: run.region }),
    })),
  }));
}
