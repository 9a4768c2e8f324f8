import type { ResourceId, RunKind } from '../digitalocean/models.js';
import type { Outcome, WatchWebhook } from '../watches/watch.js';
import { type ChainPlan, type ChainStepPlan, isCreateTemplate } from './chain-plan.js';
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
  /** For a create: the droplet it made (also its `resourceId`). */
  dropletId?: number;
  /** For a create with `until: active`: when the droplet was seen active. */
  activeAt?: string;
  /** For a create with `until: active`: the droplet's public IPv4 address, once active. */
  ipv4?: string;
  /** For a delete: the DELETE was sent (or the droplet was already gone); its watch is a deletion watch. */
  deleteSent?: boolean;
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
  /** The plan's cleanup steps (absent when it has none). */
  onFailure?: StepState[];
  /**
   * Set when the chain failed and has cleanup steps to run: the outcome it ends with once they
   * have ended. Its outcome is recorded (and emitted) only then.
   */
  failure?: ChainFailure;
  updatedAt: string;
}

/** How a chain failed, kept while its cleanup steps run. */
export interface ChainFailure {
  outcome: Exclude<ChainOutcome, 'completed' | 'cancelled'>;
  failedStep?: string;
  reason?: string;
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
  /** The cleanup steps as they ended (present when the plan has any; all pending unless it failed). */
  onFailure?: StepState[];
  webhooks?: WatchWebhook[];
}

/** The public view of a chain: what `chains show` prints and the library returns. */
export interface Chain {
  id: string;
  name?: string;
  key?: string;
  state: 'running' | 'done';
  outcome: ChainOutcome | null;
  /** The id of the step (or cleanup step) in progress, or null when done. */
  currentStep: string | null;
  steps: StepState[];
  /** The plan's cleanup steps, when it has any. */
  onFailure?: StepState[];
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  failedStep?: string;
  reason?: string;
}

export function chainFrom(record: ChainRecord, outcome: ChainOutcomeRecord | undefined): Chain {
  const steps = outcome?.steps ?? record.steps;
  const onFailure = outcome?.onFailure ?? record.onFailure;
  // While cleanup steps run, the failure they clean up after is already known.
  const failedStep = outcome?.failedStep ?? record.failure?.failedStep;
  const reason = outcome?.reason ?? record.failure?.reason;
  return {
    id: record.id,
    ...(record.plan.name === undefined ? {} : { name: record.plan.name }),
    ...(record.key === undefined ? {} : { key: record.key }),
    state: outcome === undefined ? 'running' : 'done',
    outcome: outcome?.outcome ?? null,
    currentStep: outcome === undefined ? currentStepOf(record) : null,
    steps,
    ...(onFailure === undefined ? {} : { onFailure }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    finishedAt: outcome?.chain.finishedAt ?? null,
    ...(failedStep === undefined ? {} : { failedStep }),
    ...(reason === undefined ? {} : { reason }),
  };
}

function currentStepOf(record: ChainRecord): string | null {
  if (record.failure === undefined) return record.steps[record.current]?.id ?? null;
  return record.onFailure?.find((step) => !isStepDone(step))?.id ?? null;
}

/** Whether a step has ended, either way. */
export function isStepDone(step: StepState): boolean {
  return step.status === 'completed' || step.status === 'failed';
}

/** The step states of a new chain: `steps`, and `onFailure` when the plan has cleanup steps. */
export function initialStepStates(plan: ChainPlan): Pick<ChainRecord, 'steps' | 'onFailure'> {
  return {
    steps: initialSteps(plan.steps),
    ...(plan.onFailure === undefined ? {} : { onFailure: initialSteps(plan.onFailure) }),
  };
}

function initialSteps(steps: ChainStepPlan[]): StepState[] {
  return steps.map((step) => ({
    id: step.id,
    status: 'pending',
    runs: step.runs.map((run) =>
      isCreateTemplate(run)
        ? { kind: run.kind, type: run.type, region: run.create.region }
        : {
            kind: run.kind,
            type: run.type,
            ...(hasReference(run.resourceId) ? {} : { resourceId: run.resourceId }),
            ...(run.region === undefined ? {} : { region: run.region }),
          },
    ),
  }));
}
