import { readFileSync } from 'node:fs';
import { parseDuration } from '../config/duration.js';
import { RUN_KINDS, type RunKind } from '../digitalocean/models.js';
import { parseResourceIdOf } from '../digitalocean/resource-ids.js';
import { InputError } from '../errors/input-error.js';
import { checkActionParams } from '../runs/action-params.js';
import {
  DROPLET_ACTION_TYPES,
  type DropletActionType,
  isDropletActionType,
} from '../runs/droplet-actions.js';
import { parseDropletCreate } from '../runs/droplet-create.js';
import { actionTableOf } from '../runs/resource-actions.js';
import {
  type AddressedKind,
  addressedTypeOf,
  IMAGE_ACTION_TYPES,
  parseRegion,
  parseResourceId,
} from '../runs/run-request.js';
import {
  fileLabel,
  formatSyntaxProblem,
  jsonSyntaxProblem,
  yamlSyntaxProblem,
} from '../support/syntax-errors.js';
import { isOutcome, type Outcome, type WatchWebhook } from '../watches/watch.js';
import {
  fanOutStep,
  hasReference,
  isWholeReference,
  type Reference,
  referencesIn,
} from './plan-references.js';

/**
 * A chain plan: steps run one after another, each starting only once every action of the step
 * before it `completed`. A step runs one action or fans out to several at once.
 *
 * ```yaml
 * name: release-42
 * timeout: 2h            # per action (default WATCH_TIMEOUT)
 * retryPending: 10m      # retry a busy resource (422 "pending event") this long
 * webhooks:
 *   - url: https://hooks.example.com/deploys
 * steps:
 *   - id: snapshot
 *     run: { droplet: 3164444, type: snapshot, params: { name: web-release-42 } }
 *   - id: transfer
 *     run:
 *       - { image: "${steps.snapshot.imageId}", type: transfer, region: ams3 }
 *       - { image: "${steps.snapshot.imageId}", type: transfer, region: sfo3 }
 *   - id: power-on
 *     run: { droplet: 3164444, type: power_on }
 *   - id: attach
 *     run: { volume: 7724db7c-e098-11e5-b522-000f53304e51, type: attach, params: { droplet_id: 3164444 } }
 *   - id: move-ip
 *     run: { reserved_ip: 203.0.113.7, type: assign, params: { droplet_id: "${steps.power-on.resourceId}" } }
 *   - id: web                # one droplet per create run; until: active also waits for its address
 *     run:
 *       - create: { name: web-42-ams3, region: ams3, size: s-2vcpu-4gb, image: "${steps.snapshot.imageId}" }
 *         until: active
 *   - id: point-ip
 *     run: { reserved_ip: 203.0.113.8, type: assign, params: { droplet_id: "${steps.web.0.dropletId}" } }
 * onFailure:             # cleanup, only when the chain fails
 *   - id: power-back-on
 *     run: { droplet: 3164444, type: power_on }
 * ```
 */
export interface ChainPlanInput {
  name?: string;
  /** Watch timeout of every action, e.g. `2h` or ms; default WATCH_TIMEOUT. */
  timeout?: string | number;
  /** Retry a busy resource (422 "pending event") this long; `true` is 15 minutes. */
  retryPending?: boolean | string | number;
  /** Targets for every step's action outcomes and for the chain's own outcome. */
  webhooks?: Array<string | { url: string; on?: Outcome[] }>;
  steps: ChainStepInput[];
  /**
   * Cleanup steps run, in order, when the chain fails (errored, rejected, not_found, timed_out;
   * not when cancelled). They may refer to any step's results; one that refers to a result that
   * does not exist (its step never ran) fails on its own. The chain's outcome stays the failure.
   */
  onFailure?: ChainStepInput[];
}

export interface ChainStepInput {
  /** Names the step for references (`${steps.<id>.imageId}`); default `step-<n>`. */
  id?: string;
  /** One action, or several started at once (the next step waits for all of them). */
  run: RunInput | RunInput[];
  timeout?: string | number;
  retryPending?: boolean | string | number;
}

/** One action of a plan; ids and parameter values may be references to earlier steps. */
export type RunInput =
  | { create: CreateFields; until?: 'active' }
  | { droplet: number | string; type: DropletActionType; params?: Record<string, unknown> }
  | { droplet: number | string; type: 'delete' }
  | { image: number | string; type: 'transfer'; region: string }
  | { image: number | string; type: 'convert' }
  | { volume: string; type: 'attach' | 'detach' | 'resize'; params?: Record<string, unknown> }
  | { reserved_ip: string; type: 'assign' | 'unassign'; params?: Record<string, unknown> }
  | { floating_ip: string; type: 'assign' | 'unassign'; params?: Record<string, unknown> }
  | { reserved_ipv6: string; type: 'assign' | 'unassign'; params?: Record<string, unknown> };

/** A validated plan, as stored with the chain. */
export interface ChainPlan {
  name?: string;
  timeoutMs?: number;
  retryPendingMs?: number;
  webhooks?: WatchWebhook[];
  steps: ChainStepPlan[];
  /** Cleanup steps, run when the chain fails (see ChainPlanInput.onFailure). */
  onFailure?: ChainStepPlan[];
}

export interface ChainStepPlan {
  id: string;
  runs: RunTemplate[];
  timeoutMs?: number;
  retryPendingMs?: number;
}

/** One run of a step: an action on a resource, or a droplet create. */
export type RunTemplate = ActionTemplate | CreateTemplate;

/** One action to start; `resourceId` and parameter values may hold references until they run. */
export interface ActionTemplate {
  kind: RunKind;
  resourceId: number | string;
  type: string;
  region?: string;
  params?: Record<string, unknown>;
}

/**
 * A droplet create (POST /v2/droplets) of one droplet, with the request's own field names; `image`
 * may be a reference (`${steps.snapshot.imageId}`).
 */
export interface CreateFields {
  name: string;
  region: string;
  size: string;
  image: number | string;
  ssh_keys?: Array<number | string>;
  tags?: string[];
  user_data?: string;
}

export interface CreateTemplate {
  kind: 'droplet';
  type: 'create';
  create: CreateFields;
  /** `active`: after the create action completed, wait for the droplet's status and address. */
  until?: 'active';
}

export function isCreateTemplate(run: RunTemplate): run is CreateTemplate {
  return 'create' in run;
}

/**
 * `{ droplet: <id>, type: delete }`: DELETE /v2/droplets/{id}, then a deletion watch (the droplet
 * is gone once GET answers 404). Stored as an action template whose type is `delete`.
 */
export function isDeleteTemplate(
  run: RunTemplate,
): run is ActionTemplate & { kind: 'droplet'; type: 'delete' } {
  return !isCreateTemplate(run) && run.kind === 'droplet' && run.type === 'delete';
}

/** Whether the run waits for its droplet to be active once created. */
export function waitsForActive(run: RunTemplate | undefined): boolean {
  return run !== undefined && isCreateTemplate(run) && run.until === 'active';
}

export const MAX_STEPS = 50;
export const MAX_RUNS_PER_STEP = 50;

const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const PLAN_FIELDS = new Set(['name', 'timeout', 'retryPending', 'webhooks', 'steps', 'onFailure']);
const STEP_FIELDS = new Set(['id', 'run', 'timeout', 'retryPending']);
const RUN_FIELDS = new Set([...RUN_KINDS, 'create', 'type', 'region', 'params']);
const CREATE_RUN_FIELDS = new Set(['create', 'until']);
const CREATE_FIELDS = new Set(['name', 'region', 'size', 'image', 'ssh_keys', 'tags', 'user_data']);
const WEBHOOK_FIELDS = new Set(['url', 'on']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuseUnknown(value: Record<string, unknown>, allowed: Set<string>, where: string): void {
  const unknown = Object.keys(value).find((key) => !allowed.has(key));
  if (unknown !== undefined)
    throw new InputError(
      `${where}: unknown field ${JSON.stringify(unknown)} (expected ${[...allowed].join(', ')})`,
    );
}

function duration(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0)
    throw new InputError(
      `${where} must be a positive duration such as 30m or 6h (got ${JSON.stringify(value)})`,
    );
  return ms;
}

/** The `retryPending` of a plan or step: a duration, `true` (15 minutes) or `false`. */
function retryPending(value: unknown, where: string): number | undefined {
  if (value === true) return DEFAULT_RETRY_PENDING_MS;
  if (value === false || value === undefined) return undefined;
  return duration(value, where);
}

export const DEFAULT_RETRY_PENDING_MS = 15 * 60_000;

function webhooksOf(value: unknown, validateUrl: (url: string) => string): WatchWebhook[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InputError('webhooks must be a list of {url, on?}');
  return value.map((entry, index) => {
    const where = `webhooks[${index}]`;
    const webhook = typeof entry === 'string' ? { url: entry } : entry;
    if (!isObject(webhook) || typeof webhook.url !== 'string')
      throw new InputError(`${where} must be a URL or {url, on?}`);
    refuseUnknown(webhook, WEBHOOK_FIELDS, where);
    let on: Outcome[] | undefined;
    if (webhook.on !== undefined) {
      const list = Array.isArray(webhook.on) ? webhook.on : [webhook.on];
      const bad = list.find((outcome) => typeof outcome !== 'string' || !isOutcome(outcome));
      if (list.length === 0 || bad !== undefined)
        throw new InputError(
          `${where}.on takes outcomes among completed, errored, not_found, timed_out, cancelled (got ${JSON.stringify(webhook.on)})`,
        );
      on = list as Outcome[];
    }
    let url: string;
    try {
      url = validateUrl(webhook.url);
    } catch (error) {
      throw new InputError(`${where}.url: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { url, ...(on === undefined ? {} : { on }) };
  });
}

interface KnownStep {
  id: string;
  runs: RunTemplate[];
}

function checkReferences(text: string, where: string, earlier: KnownStep[]): Reference[] {
  const references = referencesIn(text, where);
  for (const reference of references) {
    const step = earlier.find((candidate) => candidate.id === reference.step);
    if (step === undefined)
      throw new InputError(`${where}: steps.${reference.step} is not an earlier step of this chain`);
    if (reference.index === undefined && step.runs.length > 1)
      throw new InputError(
        `${where}: step ${step.id} runs ${step.runs.length} actions; pick one, e.g. \${steps.${step.id}.0.${reference.field}}`,
      );
    const run = step.runs[reference.index ?? 0];
    if (run === undefined)
      throw new InputError(
        `${where}: step ${step.id} has no run ${reference.index} (it has ${step.runs.length})`,
      );
    if (reference.field === 'imageId' && !(run.kind === 'droplet' && run.type === 'snapshot'))
      throw new InputError(`${where}: only a droplet snapshot makes an image (step ${step.id} does not)`);
    const which = `step ${step.id}${reference.index === undefined ? '' : ` run ${reference.index}`}`;
    if (reference.field === 'dropletId' && !isCreateTemplate(run))
      throw new InputError(`${where}: only a create run makes a droplet (${which} does not)`);
    if (reference.field === 'ipv4' && !waitsForActive(run))
      throw new InputError(
        `${where}: ipv4 is known only for a create run with until: active (${which} ${isCreateTemplate(run) ? 'has no until: active' : 'is not a create'})`,
      );
  }
  return references;
}

function resourceOf(kind: RunKind, value: unknown, where: string, earlier: KnownStep[]): number | string {
  if (typeof value === 'string' && hasReference(value)) {
    if (!isWholeReference(value))
      throw new InputError(
        `${where} must be ${kind === 'droplet' || kind === 'image' ? 'a number' : 'an id'} or exactly one reference (got ${JSON.stringify(value)})`,
      );
    checkReferences(value, where, earlier);
    return value.trim();
  }
  if (kind === 'droplet' || kind === 'image') return parseResourceId(value, where);
  return parseResourceIdOf(kind, value, where) as string;
}

/** Params whose values may be whole references to earlier steps' results, checked as the kind's. */
function paramsOf(
  kind: Exclude<RunKind, 'image'>,
  type: string,
  value: Record<string, unknown>,
  where: string,
  earlier: KnownStep[],
): Record<string, unknown> {
  const params = value.params ?? {};
  if (!isObject(params)) throw new InputError(`${where}.params must be an object`);
  for (const [name, param] of Object.entries(params)) {
    if (hasReference(param)) checkReferences(param, `${where}.params.${name}`, earlier);
  }
  checkActionParams(
    actionTableOf(kind),
    type,
    params,
    where,
    (param) => hasReference(param) && isWholeReference(param),
  );
  return params;
}

/** A volume or IP address action of a plan. */
function addressedRunOf(
  kind: AddressedKind,
  value: Record<string, unknown>,
  where: string,
  earlier: KnownStep[],
): RunTemplate {
  const resourceId = resourceOf(kind, value[kind], `${where}.${kind}`, earlier);
  const type = addressedTypeOf(kind, value, where);
  const params = paramsOf(kind, type, value, where, earlier);
  return { kind, resourceId, type, ...(Object.keys(params).length === 0 ? {} : { params }) };
}

/**
 * A create run: `{ create: { name, region, size, image, ssh_keys?, tags?, user_data? }, until? }`,
 * checked as `run droplet create` checks its flags (a reference for `image` is checked once known).
 */
function createRunOf(value: Record<string, unknown>, where: string, earlier: KnownStep[]): CreateTemplate {
  refuseUnknown(value, CREATE_RUN_FIELDS, where);
  const create = value.create;
  const at = `${where}.create`;
  if (!isObject(create))
    throw new InputError(
      `${at} must be an object such as {"name": "web-1", "region": "ams3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}`,
    );
  refuseUnknown(create, CREATE_FIELDS, at);
  if (create.name === undefined) throw new InputError(`${at}.name is required (one droplet per create run)`);
  if (typeof create.name !== 'string')
    throw new InputError(
      `${at}.name must be one droplet name (a fan-out is several create runs in one step)`,
    );
  let image = create.image;
  if (hasReference(image)) {
    if (!isWholeReference(image))
      throw new InputError(
        `${at}.image must be an image id, a slug or exactly one reference (got ${JSON.stringify(image)})`,
      );
    checkReferences(image, `${at}.image`, earlier);
    image = image.trim();
  }
  const spec = parseDropletCreate(
    {
      names: [create.name],
      region: create.region,
      size: create.size,
      // A reference is checked when it resolves; a placeholder stands in for it here.
      image: typeof image === 'string' && hasReference(image) ? 1 : image,
      sshKeys: create.ssh_keys,
      tags: create.tags,
      userData: create.user_data,
    },
    at,
    { names: `${at}.name`, sshKeys: `${at}.ssh_keys`, userData: `${at}.user_data` },
  );
  if (value.until !== undefined && value.until !== 'active')
    throw new InputError(`${where}.until can only be active (got ${JSON.stringify(value.until)})`);
  const { body } = spec;
  const fields: CreateFields = {
    name: create.name,
    region: body.region,
    size: body.size,
    image: typeof image === 'string' && hasReference(image) ? image : body.image,
    ...(body.ssh_keys === undefined ? {} : { ssh_keys: body.ssh_keys }),
    ...(body.tags === undefined ? {} : { tags: body.tags }),
    ...(body.user_data === undefined ? {} : { user_data: body.user_data }),
  };
  return {
    kind: 'droplet',
    type: 'create',
    create: fields,
    ...(value.until === 'active' ? { until: 'active' } : {}),
  };
}

function runOf(value: unknown, where: string, earlier: KnownStep[]): RunTemplate {
  if (!isObject(value))
    throw new InputError(`${where} must be an object such as {"droplet": 42, "type": "reboot"}`);
  if (value.create !== undefined) return createRunOf(value, where, earlier);
  refuseUnknown(value, RUN_FIELDS, where);
  const named = RUN_KINDS.filter((candidate) => value[candidate] !== undefined);
  const kind = named[0];
  if (kind === undefined || named.length > 1)
    throw new InputError(`${where} must name exactly one of ${RUN_KINDS.join(', ')} (or be a create)`);
  if (kind !== 'droplet' && kind !== 'image') return addressedRunOf(kind, value, where, earlier);
  const resourceId = resourceOf(kind, value[kind], `${where}.${kind}`, earlier);
  const type = value.type;
  if (kind === 'image') {
    if (type !== 'transfer' && type !== 'convert')
      throw new InputError(
        `${where}.type must be one of ${IMAGE_ACTION_TYPES.join(', ')} for an image (got ${JSON.stringify(type)})`,
      );
    if (value.params !== undefined) throw new InputError(`${where}: image actions take no params`);
    if (type === 'convert') {
      if (value.region !== undefined) throw new InputError(`${where}: convert takes no region`);
      return { kind, resourceId, type };
    }
    if (value.region === undefined) throw new InputError(`${where}: transfer needs a region`);
    return { kind, resourceId, type, region: parseRegion(value.region, `${where}.region`) };
  }
  if (type === 'delete') {
    if (value.params !== undefined || value.region !== undefined)
      throw new InputError(`${where}: a droplet delete takes no params or region`);
    return { kind, resourceId, type };
  }
  if (!isDropletActionType(type))
    throw new InputError(
      `${where}.type must be one of ${DROPLET_ACTION_TYPES.join(', ')} or delete for a droplet (got ${JSON.stringify(type)})`,
    );
  if (value.region !== undefined)
    throw new InputError(`${where}: region is for image transfers; droplet actions take params`);
  const params = paramsOf(kind, type, value, where, earlier);
  return { kind, resourceId, type, ...(Object.keys(params).length === 0 ? {} : { params }) };
}

/**
 * Validates a plan (parsed JSON or YAML) completely, so a chain never starts with a mistake
 * waiting in a later step. Every problem is an InputError naming where it is, e.g.
 * `steps[1].run[0].region must be a region slug`.
 */
export function parseChainPlan(value: unknown, validateUrl: (url: string) => string): ChainPlan {
  if (!isObject(value)) throw new InputError('a chain plan must be an object with a steps list');
  refuseUnknown(value, PLAN_FIELDS, 'plan');
  if (value.name !== undefined && (typeof value.name !== 'string' || value.name.trim() === ''))
    throw new InputError('name must be a non-empty string');
  if (!Array.isArray(value.steps) || value.steps.length === 0)
    throw new InputError('steps must be a non-empty list');
  if (value.steps.length > MAX_STEPS) throw new InputError(`a chain has at most ${MAX_STEPS} steps`);
  const steps = stepsOf(value.steps, 'steps', [], 'step');
  let onFailure: ChainStepPlan[] | undefined;
  if (value.onFailure !== undefined) {
    if (!Array.isArray(value.onFailure) || value.onFailure.length === 0)
      throw new InputError('onFailure must be a non-empty list of steps');
    if (value.onFailure.length > MAX_STEPS) throw new InputError(`onFailure has at most ${MAX_STEPS} steps`);
    // A cleanup step may refer to any main step (which of them ran is only known at run time) and
    // to the cleanup steps before it.
    onFailure = stepsOf(value.onFailure, 'onFailure', steps, 'cleanup');
  }
  const timeoutMs = duration(value.timeout, 'timeout');
  const retryPendingMs = retryPending(value.retryPending, 'retryPending');
  const webhooks = webhooksOf(value.webhooks, validateUrl);
  return {
    ...(value.name === undefined ? {} : { name: String(value.name).trim() }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(retryPendingMs === undefined ? {} : { retryPendingMs }),
    ...(webhooks === undefined || webhooks.length === 0 ? {} : { webhooks }),
    steps,
    ...(onFailure === undefined ? {} : { onFailure }),
  };
}

/**
 * The steps of `steps` or `onFailure` (`field`), each checked against the steps it may refer to:
 * `known` and the ones before it in the list. Ids are unique across both lists.
 */
function stepsOf(list: unknown[], field: string, known: KnownStep[], defaultId: string): ChainStepPlan[] {
  const steps: ChainStepPlan[] = [];
  for (const [index, entry] of list.entries()) {
    const where = `${field}[${index}]`;
    if (!isObject(entry)) throw new InputError(`${where} must be an object with a run`);
    refuseUnknown(entry, STEP_FIELDS, where);
    const id = entry.id === undefined ? `${defaultId}-${index + 1}` : entry.id;
    if (typeof id !== 'string' || !STEP_ID.test(id))
      throw new InputError(
        `${where}.id must start with a letter and hold only letters, digits, _ and - (got ${JSON.stringify(entry.id)})`,
      );
    if ([...known, ...steps].some((step) => step.id === id))
      throw new InputError(`${where}.id ${id} is used twice`);
    if (entry.run === undefined) throw new InputError(`${where} needs a run`);
    const runs = Array.isArray(entry.run) ? entry.run : [entry.run];
    if (runs.length === 0) throw new InputError(`${where}.run must hold at least one action`);
    if (runs.length > MAX_RUNS_PER_STEP)
      throw new InputError(`${where}.run holds at most ${MAX_RUNS_PER_STEP} actions`);
    const earlier = [...known, ...steps];
    const templates = runs.flatMap((run, position) => {
      const at = Array.isArray(entry.run) ? `${where}.run[${position}]` : `${where}.run`;
      return fanOut(run, at, earlier).map((one) => runOf(one, at, earlier));
    });
    if (templates.length > MAX_RUNS_PER_STEP)
      throw new InputError(
        `${where}.run holds at most ${MAX_RUNS_PER_STEP} actions (counting each dropletIds fan-out)`,
      );
    const timeoutMs = duration(entry.timeout, `${where}.timeout`);
    const retryPendingMs = retryPending(entry.retryPending, `${where}.retryPending`);
    steps.push({
      id,
      runs: templates,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(retryPendingMs === undefined ? {} : { retryPendingMs }),
    });
  }
  return steps;
}

/**
 * A run whose `droplet` is `${steps.<id>.dropletIds}`, as one run per droplet that step's create
 * runs make (`${steps.<id>.<n>.dropletId}`); any other run as it is.
 */
function fanOut(run: unknown, where: string, earlier: KnownStep[]): unknown[] {
  if (!isObject(run)) return [run];
  const stepId = fanOutStep(run.droplet);
  if (stepId === undefined) return [run];
  const step = earlier.find((candidate) => candidate.id === stepId);
  if (step === undefined)
    throw new InputError(`${where}.droplet: steps.${stepId} is not an earlier step of this chain`);
  const creates = step.runs.flatMap((template, index) => (isCreateTemplate(template) ? [index] : []));
  if (creates.length === 0)
    throw new InputError(
      `${where}.droplet: step ${stepId} creates no droplet (dropletIds needs create runs)`,
    );
  return creates.map((index) => ({ ...run, droplet: `\${steps.${stepId}.${index}.dropletId}` }));
}

/** Reads a plan file (or stdin for `-`): JSON, or YAML for `.yaml`/`.yml` or text that is not JSON. */
export async function readChainPlanFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const yaml = /\.ya?ml$/i.test(path);
  if (!yaml) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      if (/\.json$/i.test(path) || /^\s*[[{]/.test(text))
        throw new InputError(formatSyntaxProblem(fileLabel(path), 'JSON', jsonSyntaxProblem(text, error)));
    }
  }
  const { parse } = await import('yaml');
  try {
    return parse(text) as unknown;
  } catch (error) {
    throw new InputError(formatSyntaxProblem(fileLabel(path), 'YAML', yamlSyntaxProblem(error)));
  }
}
