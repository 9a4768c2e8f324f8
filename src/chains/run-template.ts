import { InputError } from '../errors/input-error.js';
import { parseRunRequest, type RunSpec } from '../runs/run-request.js';
import type { StepState } from './chain.js';
import type { RunTemplate } from './chain-plan.js';
import { hasReference, type Reference, substitute } from './plan-references.js';

/**
 * A step's run with its references replaced by the results of earlier steps, validated as any run
 * request is. Throws InputError when a result is missing or the resolved request is not valid.
 */
export function resolveRun(template: RunTemplate, steps: readonly StepState[], where: string): RunSpec {
  const lookup = (reference: Reference): number | string => {
    const step = steps.find((candidate) => candidate.id === reference.step);
    const run = step?.runs[reference.index ?? 0];
    const value =
      reference.field === 'imageId'
        ? run?.imageId
        : reference.field === 'actionId'
          ? run?.actionId
          : run?.resourceId;
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
  const resolve = (value: unknown): unknown => (hasReference(value) ? substitute(value, lookup) : value);
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

export function snapshotNameOf(spec: RunSpec): string | undefined {
  return spec.kind === 'droplet' && spec.body.type === 'snapshot' && typeof spec.body.name === 'string'
    ? spec.body.name
    : undefined;
}
