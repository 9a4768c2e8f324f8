import {
  isResourceKind,
  isWatchKind,
  RESOURCE_KINDS,
  type ResourceId,
  type ResourceKind,
  WATCH_KINDS,
  type WatchKind,
} from '../digitalocean/models.js';
import { hasScopedActions, parseResourceIdOf, resourceIdSegment } from '../digitalocean/resource-ids.js';
import { InputError } from '../errors/input-error.js';

/**
 * One DigitalOcean action, named the way its scoped GET endpoint names it: a droplet's or image's
 * whole-number id, a volume's or share's UUID, an IP address. Kind `action` has no resource
 * (null): it is read through GET /v2/actions/{id}.
 */
export interface ActionRef {
  kind: WatchKind;
  resourceId: ResourceId | null;
  actionId: number;
}

/**
 * A droplet awaited until it is gone (`run droplet delete`): a delete starts no action, so the
 * watch has none (`actionId: null`) and ends `completed` once GET /v2/droplets/{id} answers 404.
 */
export interface DeletionRef {
  kind: 'droplet';
  resourceId: number;
  actionId: null;
  awaits: 'deletion';
}

/** What a watch waits on: an action, or a droplet's deletion. */
export type WatchRef = ActionRef | DeletionRef;

export function isDeletionRef(ref: WatchRef): ref is DeletionRef {
  return ref.actionId === null;
}

/** The deletion watch of droplet `dropletId` (a positive whole number, as the user gives it). */
export function parseDeletionRef(dropletId: unknown, name = 'dropletId'): DeletionRef {
  return { kind: 'droplet', resourceId: positiveId(name, dropletId), actionId: null, awaits: 'deletion' };
}

function positiveId(name: string, value: unknown): number {
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (text === undefined || !/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw new InputError(`${name} must be a positive whole number (got ${JSON.stringify(value)})`);
  }
  return Number(text);
}

/** A kind `run` can start actions on (`droplet`, `image`), refused with the kinds there are. */
export function parseResourceKind(kind: unknown): ResourceKind {
  if (typeof kind !== 'string' || !isResourceKind(kind))
    throw new InputError(`kind must be one of ${RESOURCE_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  return kind;
}

/** A kind of action a user can watch, refused with the kinds there are. */
export function parseWatchKind(kind: unknown): WatchKind {
  if (typeof kind !== 'string' || !isWatchKind(kind))
    throw new InputError(`kind must be one of ${WATCH_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  return kind;
}

/**
 * A resource whose actions DigitalOcean lists (droplet, image, volume, reserved or floating IP),
 * as the user gave it; InputError for the others, which have no list.
 */
export function parseListedResource(kind: unknown, resourceId: unknown): [WatchKind, ResourceId] {
  const validKind = parseWatchKind(kind);
  const validId = parseResourceIdOf(validKind, resourceId);
  if (validId === null || !hasScopedActions(validKind))
    throw new InputError(
      `DigitalOcean lists no actions of a single ${validKind}: watch its action by id (\`watch action <actionId>\`)`,
    );
  return [validKind, validId];
}

/**
 * Validates user input into an ActionRef; the error names the bad field and value. The resource
 * id is kept in the one form its kind uses (see parseResourceIdOf); kind `action` takes none.
 */
export function parseActionRef(kind: unknown, resourceId: unknown, actionId: unknown): ActionRef {
  const validKind = parseWatchKind(kind);
  if (validKind === 'action' && resourceId !== undefined && resourceId !== null)
    throw new InputError(
      `kind action takes no resourceId: its action is read through GET /v2/actions/{id} (got ${JSON.stringify(resourceId)})`,
    );
  return {
    kind: validKind,
    resourceId: parseResourceIdOf(validKind, resourceId),
    actionId: positiveId('actionId', actionId),
  };
}

/**
 * The watch id (and BullMQ job id) is derived from the action, so enqueueing the same action twice
 * joins one watch. BullMQ forbids `:` in custom ids, hence dashes, and an IPv6 address's `:` as
 * `_`. Each kind's resource id has its own shape (digits, a UUID, a dotted or underscored
 * address), so the id reads back unambiguously; kind `action` has no resource part.
 */
export function watchIdOf(ref: WatchRef & { tokenProfile?: string | undefined }): string {
  const id = isDeletionRef(ref)
    ? `droplet-${ref.resourceId}${DELETED_SUFFIX}`
    : ref.resourceId === null
      ? `${ref.kind}-${ref.actionId}`
      : `${ref.kind}-${resourceIdSegment(ref.resourceId)}-${ref.actionId}`;
  // A watch through another token is another watch; the default token's ids stay as they were.
  return ref.tokenProfile === undefined ? id : `${ref.tokenProfile}.${id}`;
}

const UUID_SEGMENT = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** What follows `<kind>-` in a watch id, up to `-<actionId>`. */
const RESOURCE_SEGMENTS: Record<WatchKind, string | undefined> = {
  droplet: '\\d+',
  image: '\\d+',
  volume: UUID_SEGMENT,
  nfs: UUID_SEGMENT,
  reserved_ip: '\\d{1,3}(?:\\.\\d{1,3}){3}',
  floating_ip: '\\d{1,3}(?:\\.\\d{1,3}){3}',
  reserved_ipv6: '[0-9a-f_.]*_[0-9a-f_.]*',
  action: undefined,
};

/** What ends a deletion watch's id, where an action watch's has `-<actionId>`. */
const DELETED_SUFFIX = '-deleted';

/** Every watch id, as a pattern for schemas (the HTTP API's path parameter). */
export const WATCH_ID_PATTERN = `^([a-z][a-z0-9_]{0,31}\\.)?((${WATCH_KINDS.map((kind) => {
  const segment = RESOURCE_SEGMENTS[kind];
  return segment === undefined ? `${kind}-` : `${kind}-${segment}-`;
}).join('|')})\\d+|droplet-\\d+${DELETED_SUFFIX})$`;

/** `[<profile>.]droplet-<dropletId>-deleted`: a deletion watch. */
const DELETION_ID_PATTERN = new RegExp(`^(?:([a-z][a-z0-9_]{0,31})\\.)?droplet-(\\d+)${DELETED_SUFFIX}$`);

/** One pattern a kind: `[<profile>.]<kind>-<resource>-<actionId>`, or `[<profile>.]action-<actionId>`. */
const WATCH_ID_PATTERNS = WATCH_KINDS.map((kind) => {
  const segment = RESOURCE_SEGMENTS[kind];
  const rest = segment === undefined ? '()' : `(${segment})-`;
  return { kind, pattern: new RegExp(`^(?:([a-z][a-z0-9_]{0,31})\\.)?${kind}-${rest}(\\d+)$`) };
});

export function parseWatchId(id: string): (WatchRef & { tokenProfile?: string }) | undefined {
  return parseActionWatchId(id) ?? parseDeletionWatchId(id);
}

function parseDeletionWatchId(id: string): (DeletionRef & { tokenProfile?: string }) | undefined {
  const match = DELETION_ID_PATTERN.exec(id);
  if (!match) return undefined;
  const [, profile, dropletId] = match;
  try {
    const ref = parseDeletionRef(dropletId);
    return profile === undefined ? ref : { ...ref, tokenProfile: profile };
  } catch (error) {
    if (error instanceof InputError) return undefined;
    throw error;
  }
}

/** parseWatchId for the watches of an action only (what list sweeps observe); undefined for the rest. */
export function parseActionWatchId(id: string): (ActionRef & { tokenProfile?: string }) | undefined {
  for (const { kind, pattern } of WATCH_ID_PATTERNS) {
    const match = pattern.exec(id);
    if (!match) continue;
    const [, profile, resource, actionId] = match;
    try {
      const resourceId = kind === 'action' ? undefined : resource?.replaceAll('_', ':');
      const ref = parseActionRef(kind, resourceId, actionId);
      return profile === undefined ? ref : { ...ref, tokenProfile: profile };
    } catch (error) {
      if (error instanceof InputError) return undefined;
      throw error;
    }
  }
  return undefined;
}

/**
 * The action in words, for log lines and chat messages: `droplet 5 action 7`, `action 7` (kind
 * action), or `deletion of droplet 5`.
 */
export function describeRef(ref: {
  kind: WatchKind;
  resourceId: ResourceId | null;
  actionId: number | null;
}): string {
  if (ref.actionId === null) return `deletion of ${ref.kind} ${ref.resourceId}`;
  return ref.resourceId === null
    ? `action ${ref.actionId}`
    : `${ref.kind} ${ref.resourceId} action ${ref.actionId}`;
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
