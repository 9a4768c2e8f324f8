import { InputError } from '../errors/input-error.js';
import { type CreateSpec, parseDropletCreate } from '../runs/droplet-create.js';
import { parseResourceId, parseRunRequest, type RunSpec } from '../runs/run-request.js';
import type { StepState } from './chain.js';
import type { ActionTemplate, CreateTemplate } from './chain-plan.js';
import { hasReference, type Reference, substitute } from './plan-references.js';

type Resolve = (value: unknown) => unknown;

/** Replaces references by the results of earlier steps; throws InputError naming a missing one. */
function resolverOf(steps: readonly StepState[], where: string): Resolve {
  const lookup = (reference: Reference): number | string => {
    const step = steps.find((candidate) => candidate.id === reference.step);
    const run = step?.runs[reference.index ?? 0];
    const value = run?.[reference.field];
    if (value === undefined) {
      // A cleanup step may refer to a step the failure stopped before it ran, or that failed.
      const why =
        step?.status === 'pending'
          ? ` (step ${reference.step} never ran)`
          : step?.status === 'failed'
            ? ` (step ${reference.step} failed)`
            : '';
      throw new InputError(`${where}: steps.${reference.step}.${reference.field} has no value${why}`);
    }
    return value;
  };
  return (value) => (hasReference(value) ? substitute(value, lookup) : value);
}

/**
 * A step's run with its references replaced by the results of earlier steps, validated as any run
 * request is. Throws InputError when a result is missing or the resolved request is not valid.
 */
export function resolveRun(template: ActionTemplate, steps: readonly StepState[], where: string): RunSpec {
  const resolve = resolverOf(steps, where);
  const params =
    template.params === undefined
      ? undefined
      : Object.fromEntries(Object.entries(template.params).map(([name, value]) => [name, resolve(value)]));
  return parseRunRequest(
    {
      kind: template.kind,
      resourceId: resolve(template.resourceId),
      type: template.type,
      ...(template.region === undefined ? {} : { region: template.region }),
      ...(params === undefined ? {} : { params }),
    },
    where,
  );
}

/** The droplet a delete run names, its reference resolved. */
export function resolveDeletedDroplet(
  template: ActionTemplate,
  steps: readonly StepState[],
  where: string,
): number {
  return parseResourceId(resolverOf(steps, where)(template.resourceId), `${where} droplet`);
}

/** A create run with its image reference resolved, validated as `run droplet create` is. */
export function resolveCreate(
  template: CreateTemplate,
  steps: readonly StepState[],
  where: string,
): CreateSpec {
  const { name, region, size, image, ssh_keys, tags, user_data } = template.create;
  return parseDropletCreate(
    {
      names: [name],
      region,
      size,
      image: resolverOf(steps, where)(image),
      ...(ssh_keys === undefined ? {} : { sshKeys: ssh_keys }),
      ...(tags === undefined ? {} : { tags }),
      ...(user_data === undefined ? {} : { userData: user_data }),
    },
    `${where} create`,
    {
      names: `${where} create.name`,
      sshKeys: `${where} create.ssh_keys`,
      userData: `${where} create.user_data`,
    },
  );
}

export function snapshotNameOf(spec: RunSpec): string | undefined {
  return spec.kind === 'droplet' && spec.body.type === 'snapshot' && typeof spec.body.name === 'string'
    ? spec.body.name
    : undefined;
}
