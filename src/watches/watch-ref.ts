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

/** A resource kind as a user gives it (`droplet`, `image`), refused with the kinds there are. */
export function parseResourceKind(kind: unknown): ResourceKind {
  if (typeof kind !== 'string' || !isResourceKind(kind))
    throw new InputError(`kind must be one of ${RESOURCE_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  return kind;
}

/** Validates user input into an ActionRef; the error names the bad field and value. */
export function parseActionRef(kind: unknown, resourceId: unknown, actionId: unknown): ActionRef {
  return {
    kind: parseResourceKind(kind),
    resourceId: positiveId('resourceId', resourceId),
    actionId: positiveId('actionId', actionId),
  };
}

/**
 * The watch id (and BullMQ job id) is derived from the action, so enqueueing the same action twice
 * joins one watch. BullMQ forbids `:` in custom ids, hence dashes.
 */
export function watchIdOf(ref: ActionRef & { tokenProfile?: string | undefined }): string {
  const id = `${ref.kind}-${ref.resourceId}-${ref.actionId}`;
  // A watch through another token is another watch; the default token's ids stay as they were.
  return ref.tokenProfile === undefined ? id : `${ref.tokenProfile}.${id}`;
}

export function parseWatchId(id: string): (ActionRef & { tokenProfile?: string }) | undefined {
  const match = /^(?:([a-z][a-z0-9_]{0,31})\.)?(droplet|image)-(\d+)-(\d+)$/.exec(id);
  if (!match) return undefined;
  const ref = { kind: match[2] as ResourceKind, resourceId: Number(match[3]), actionId: Number(match[4]) };
  return match[1] === undefined ? ref : { ...ref, tokenProfile: match[1] };
}

/** The profile of DIGITALOCEAN_TOKEN itself; its watches carry no profile. */
export const DEFAULT_TOKEN_PROFILE = 'default';

/** Profile names as `DIGITALOCEAN_TOKEN_<NAME>` spells them, lower-cased. */
export const TOKEN_PROFILE_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * A token profile as a user names it (`--token-profile team_b`, any case). Undefined for the
 * default profile, whose watches carry no profile.
 */
export function parseTokenProfile(value: unknown): string | undefined {
  const name = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  if (name === undefined || !TOKEN_PROFILE_PATTERN.test(name)) {
    throw new InputError(
      `token profile must be a letter then up to 31 letters, digits or _, as in DIGITALOCEAN_TOKEN_<NAME> (got ${JSON.stringify(value)})`,
    );
  }
  return name === DEFAULT_TOKEN_PROFILE ? undefined : name;
}
