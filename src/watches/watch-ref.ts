import { isResourceKind, RESOURCE_KINDS, type ResourceKind } from '../digitalocean/models.js';
import { InputError } from '../errors/input-error.js';

/** One DigitalOcean action, named the way its scoped GET endpoint names it. */
export interface ActionRef {
  kind: ResourceKind;
  resourceId: number;
  actionId: number;
}

function positiveId(name: string, value: unknown): number {
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (text === undefined || !/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw new InputError(`${name} must be a positive whole number (got ${JSON.stringify(value)})`);
  }
  return Number(text);
}

/** Validates user input into an ActionRef; the error names the bad field and value. */
export function parseActionRef(kind: unknown, resourceId: unknown, actionId: unknown): ActionRef {
  if (typeof kind !== 'string' || !isResourceKind(kind)) {
    throw new InputError(`kind must be one of ${RESOURCE_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  }
  return {
    kind,
    resourceId: positiveId('resourceId', resourceId),
    actionId: positiveId('actionId', actionId),
  };
}

/**
 * The watch id (and BullMQ job id) is derived from the action, so enqueueing the same action twice
 * joins one watch. BullMQ forbids `:` in custom ids, hence dashes.
 */
export function watchIdOf(ref: ActionRef): string {
  return `${ref.kind}-${ref.resourceId}-${ref.actionId}`;
}

export function parseWatchId(id: string): ActionRef | undefined {
  const match = /^(droplet|image)-(\d+)-(\d+)$/.exec(id);
  if (!match) return undefined;
  return { kind: match[1] as ResourceKind, resourceId: Number(match[2]), actionId: Number(match[3]) };
}
