import type { PollSchedule } from '../config/config.js';
import { formatDuration } from '../config/duration.js';
import { scopedActionsPath } from '../digitalocean/resource-ids.js';
import { chainChecksWithin, pollsWithin } from '../watches/schedule.js';
import {
  type ActionTemplate,
  type ChainPlan,
  type ChainStepPlan,
  type CreateTemplate,
  isCreateTemplate,
  isDeleteTemplate,
  type RunTemplate,
} from './chain-plan.js';
import { hasReference, type Reference, substitute } from './plan-references.js';
import { SNAPSHOT_LOOKUP_MS, SNAPSHOT_LOOKUP_RETRY_MS } from './snapshot-image.js';

/**
 * What a plan would do, worked out from the plan and the configuration alone (`actionwatch chain
 * --dry-run`): each step's API calls in order and an estimate of the requests they spend. Nothing
 * is sent to DigitalOcean and nothing is read from or written to Redis.
 */

/**
 * Rough durations of DigitalOcean actions, for the typical estimate only (real ones vary with
 * disk size, region and load); a type not listed is taken as DEFAULT_TYPICAL_MS.
 */
const TYPICAL_MS: Readonly<Record<string, number>> = {
  snapshot: 10 * 60_000,
  transfer: 20 * 60_000,
  convert: 10 * 60_000,
  resize: 5 * 60_000,
  rebuild: 5 * 60_000,
  restore: 5 * 60_000,
  create: 60_000,
  delete: 30_000,
};
const DEFAULT_TYPICAL_MS = 60_000;

/** The requests of some steps: the POSTs and DELETEs (each sent once) and all requests counted. */
export type RequestTotal = RequestCount & { posts: number; deletes?: number };

/** A number of requests: as typically made, and at most (every action running to its timeout). */
export interface RequestCount {
  typical: number;
  worst: number;
}

export interface DryRunCall {
  method: 'POST' | 'GET' | 'DELETE';
  /**
   * With references (`${steps.<id>.imageId}`) where the value is only known once earlier steps
   * ran, and `{actionId}` for the id the POST answers with.
   */
  path: string;
  body?: Record<string, unknown>;
  /** How many times this call is made (a POST: once). */
  count: RequestCount;
  /** What the call is for. */
  purpose: string;
}

export interface DryRunAction {
  kind: RunTemplate['kind'];
  /** The resource id, or the reference that will give it. */
  resource: number | string;
  type: string;
  /** The watch timeout of this action, in ms. */
  timeoutMs: number;
  /** The duration assumed for the typical estimate, in ms. */
  typicalMs: number;
  calls: DryRunCall[];
}

export interface DryRunStep {
  id: string;
  actions: DryRunAction[];
}

export interface ChainDryRun {
  dryRun: true;
  name?: string;
  steps: DryRunStep[];
  /** Cleanup steps: their calls are made only when the chain fails. */
  onFailure?: DryRunStep[];
  /** Requests of `steps` (a chain that completes), and of `onFailure` on top when it fails. */
  requests: {
    steps: RequestTotal;
    onFailure?: RequestTotal;
    /** How the counts are estimated, in words. */
    basis: string;
  };
}

export interface DryRunOptions {
  schedule: PollSchedule;
  /** WATCH_TIMEOUT: an action's timeout when neither its step nor the plan sets one. */
  defaultTimeoutMs: number;
}

export function dryRunChain(plan: ChainPlan, options: DryRunOptions): ChainDryRun {
  const known = [...plan.steps, ...(plan.onFailure ?? [])];
  const stepsOf = (steps: ChainStepPlan[]) => steps.map((step) => dryRunStep(plan, step, known, options));
  const steps = stepsOf(plan.steps);
  const onFailure = plan.onFailure === undefined ? undefined : stepsOf(plan.onFailure);
  const { schedule } = options;
  const basis =
    `POSTs: one per action (a delete sends one DELETE instead, and its watch polls the droplet until ` +
    `it answers 404). GETs: a watch polls its action on the poll schedule ` +
    `(first ${schedule.firstDelayMs === 0 ? 'at once' : `after ${formatDuration(schedule.firstDelayMs)}`}, then every ${schedule.ageFactor} × its age ` +
    `within ${formatDuration(schedule.minIntervalMs)}..${formatDuration(schedule.maxIntervalMs)}), ` +
    `counted over a typical duration of its type (${typicalText()}) for "typical", and over its ` +
    `timeout for "worst"; a snapshot adds its image lookup (one page typically, at most one every ` +
    `${formatDuration(SNAPSHOT_LOOKUP_RETRY_MS)} for ${formatDuration(SNAPSHOT_LOOKUP_MS)}); a create ` +
    `with until: active adds its droplet GETs (one typically, at most one per chain check over its timeout). ` +
    `Retries of failed or busy starts, and a fleet worker answering several watches from one ` +
    `listing, are not counted.`;
  return {
    dryRun: true,
    ...(plan.name === undefined ? {} : { name: plan.name }),
    steps,
    ...(onFailure === undefined ? {} : { onFailure }),
    requests: {
      steps: total(steps),
      ...(onFailure === undefined ? {} : { onFailure: total(onFailure) }),
      basis,
    },
  };
}

function dryRunStep(
  plan: ChainPlan,
  step: ChainStepPlan,
  known: ChainStepPlan[],
  options: DryRunOptions,
): DryRunStep {
  const timeoutMs = step.timeoutMs ?? plan.timeoutMs ?? options.defaultTimeoutMs;
  const actions = step.runs.map((run): DryRunAction => {
    if (isCreateTemplate(run)) return dryRunCreate(run, known, timeoutMs, options);
    const resource = knownValue(run.resourceId, known) as number | string;
    if (isDeleteTemplate(run)) return dryRunDelete(resource, timeoutMs, options);
    // Decoded so a reference reads as written; ids themselves need no escaping.
    const actionsPath = decodeURIComponent(scopedActionsPath(run.kind, resource) ?? '/v2/actions');
    const typicalMs = Math.min(timeoutMs, TYPICAL_MS[run.type] ?? DEFAULT_TYPICAL_MS);
    const calls: DryRunCall[] = [
      {
        method: 'POST',
        path: actionsPath,
        body: bodyOf(run, known),
        count: { typical: 1, worst: 1 },
        purpose: 'start the action',
      },
      {
        method: 'GET',
        path: `${actionsPath}/{actionId}`,
        count: {
          typical: pollsWithin(options.schedule, typicalMs),
          worst: pollsWithin(options.schedule, timeoutMs),
        },
        purpose: 'poll the action until it ends',
      },
    ];
    if (run.kind === 'droplet' && run.type === 'snapshot')
      calls.push({
        method: 'GET',
        path: `/v2/droplets/${resource}/snapshots`,
        count: { typical: 1, worst: Math.ceil(SNAPSHOT_LOOKUP_MS / SNAPSHOT_LOOKUP_RETRY_MS) + 1 },
        purpose: 'find the image the snapshot made',
      });
    return { kind: run.kind, resource, type: run.type, timeoutMs, typicalMs, calls };
  });
  return { id: step.id, actions };
}

/** A delete: its DELETE, then the droplet GETs until one answers 404. */
function dryRunDelete(resource: number | string, timeoutMs: number, options: DryRunOptions): DryRunAction {
  const typicalMs = Math.min(timeoutMs, TYPICAL_MS.delete ?? DEFAULT_TYPICAL_MS);
  const path = `/v2/droplets/${resource}`;
  return {
    kind: 'droplet',
    resource,
    type: 'delete',
    timeoutMs,
    typicalMs,
    calls: [
      { method: 'DELETE', path, count: { typical: 1, worst: 1 }, purpose: 'delete the droplet (sent once)' },
      {
        method: 'GET',
        path,
        count: {
          typical: pollsWithin(options.schedule, typicalMs),
          worst: pollsWithin(options.schedule, timeoutMs),
        },
        purpose: 'poll the droplet until it is gone (404)',
      },
    ],
  };
}

/**
 * A create: its POST (the body as sent, but for the tag derived from the chain's run key), the
 * polls of its create action and, with `until: active`, the droplet GETs until it is active.
 */
function dryRunCreate(
  run: CreateTemplate,
  known: ChainStepPlan[],
  timeoutMs: number,
  options: DryRunOptions,
): DryRunAction {
  const { name, ...rest } = run.create;
  const typicalMs = Math.min(timeoutMs, TYPICAL_MS.create ?? DEFAULT_TYPICAL_MS);
  const calls: DryRunCall[] = [
    {
      method: 'POST',
      path: '/v2/droplets',
      body: {
        name,
        ...rest,
        image: knownValue(rest.image, known),
        tags: [...(rest.tags ?? []), 'actionwatch:{hash of the run key}'],
      },
      count: { typical: 1, worst: 1 },
      purpose: 'create the droplet (found again by its tag, never sent twice)',
    },
    {
      method: 'GET',
      path: '/v2/droplets/{dropletId}/actions/{actionId}',
      count: {
        typical: pollsWithin(options.schedule, typicalMs),
        worst: pollsWithin(options.schedule, timeoutMs),
      },
      purpose: 'poll the create action until it ends',
    },
  ];
  if (run.until === 'active')
    calls.push({
      method: 'GET',
      path: '/v2/droplets/{dropletId}',
      count: { typical: 1, worst: chainChecksWithin(options.schedule, timeoutMs) },
      purpose: 'wait until the droplet is active and read its public IPv4',
    });
  return { kind: run.kind, resource: name, type: run.type, timeoutMs, typicalMs, calls };
}

/** The body the POST sends, as the run's validation builds it, with references left in place. */
function bodyOf(run: ActionTemplate, known: ChainStepPlan[]): Record<string, unknown> {
  if (run.kind === 'image')
    return { type: run.type, ...(run.region === undefined ? {} : { region: run.region }) };
  const params = Object.fromEntries(
    Object.entries(run.params ?? {}).map(([name, value]) => [name, knownValue(value, known)]),
  );
  return { ...params, type: run.type };
}

/**
 * A value with the references that can be known before anything runs replaced: a step's
 * `resourceId` written as a number in the plan. Others (image and action ids) stay references.
 */
function knownValue(value: unknown, known: ChainStepPlan[]): unknown {
  if (!hasReference(value)) return value;
  const unknown = new Error('not known before the chain runs');
  const lookup = (reference: Reference): number => {
    const run = known.find((step) => step.id === reference.step)?.runs[reference.index ?? 0];
    if (reference.field === 'resourceId' && run !== undefined && !isCreateTemplate(run))
      if (typeof run.resourceId === 'number') return run.resourceId;
    throw unknown;
  };
  try {
    return substitute(value, lookup);
  } catch (error) {
    if (error === unknown) return value;
    throw error;
  }
}

function total(steps: DryRunStep[]): RequestTotal {
  const calls = steps.flatMap((step) => step.actions.flatMap((action) => action.calls));
  const sum = (pick: (count: RequestCount) => number) =>
    calls.reduce((count, call) => count + pick(call.count), 0);
  const deletes = calls.filter((call) => call.method === 'DELETE').length;
  return {
    posts: calls.filter((call) => call.method === 'POST').length,
    ...(deletes === 0 ? {} : { deletes }),
    typical: sum((count) => count.typical),
    worst: sum((count) => count.worst),
  };
}

function typicalText(): string {
  const listed = Object.entries(TYPICAL_MS).map(([type, ms]) => `${type} ${formatDuration(ms)}`);
  return `${listed.join(', ')}, others ${formatDuration(DEFAULT_TYPICAL_MS)}; at most the timeout`;
}

/** The dry run for a person: one line per call, then the request estimate. */
export function formatChainDryRun(dryRun: ChainDryRun): string {
  const lines = [
    `chain ${dryRun.name ?? '(unnamed)'}: dry run, nothing sent to DigitalOcean, nothing stored`,
  ];
  const section = (steps: DryRunStep[]) => {
    for (const step of steps) {
      const fanOut = step.actions.length > 1 ? ` (${step.actions.length} actions at once)` : '';
      lines.push(`step ${step.id}${fanOut}`);
      for (const action of step.actions) {
        lines.push(
          `  ${action.type} of ${action.kind} ${action.resource} (timeout ${formatDuration(action.timeoutMs)})`,
        );
        for (const call of action.calls) {
          const body = call.body === undefined ? '' : ` ${JSON.stringify(call.body)}`;
          const times =
            call.method !== 'GET' ? '' : `  ×${call.count.typical} typically, ≤${call.count.worst}`;
          lines.push(`    ${call.method.padEnd(4)} ${call.path}${body}${times}`);
        }
      }
    }
  };
  section(dryRun.steps);
  if (dryRun.onFailure !== undefined) {
    lines.push('onFailure (only when the chain fails)');
    section(dryRun.onFailure);
  }
  const { steps, onFailure, basis } = dryRun.requests;
  lines.push(
    `requests: ${steps.posts} POSTs${steps.deletes === undefined ? '' : ` and ${steps.deletes} DELETE${steps.deletes === 1 ? '' : 's'}`}; ${steps.typical} requests typically, at most ${steps.worst}` +
      (onFailure === undefined
        ? ''
        : `; onFailure adds ${onFailure.typical} typically, at most ${onFailure.worst}`),
    `estimate: ${basis}`,
  );
  return `${lines.join('\n')}\n`;
}
