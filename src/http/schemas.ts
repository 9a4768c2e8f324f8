import { WATCH_KINDS } from '../digitalocean/models.js';
import { EVENT_TYPES } from '../notifications/event-reader.js';
import { OUTCOMES } from '../watches/watch.js';
import { WATCH_ID_PATTERN } from '../watches/watch-ref.js';

/**
 * JSON schemas of the API. They check shape (types, known fields, sizes) and document the API
 * through /openapi.json; what a value means (a positive id, a duration, a deliverable URL) is
 * checked by the same parsers the CLI uses. Shared ones are registered by `$id` and become
 * OpenAPI components.
 */

export const MAX_BATCH = 1000;
const MAX_WEBHOOKS_PER_WATCH = 10;

export { EVENT_TYPES };

const nullable = (type: string) => ({ type: [type, 'null'] });

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'A stable code: bad_request, unauthorized, not_found, …' },
    message: { type: 'string', description: 'What was wrong, naming the field.' },
  },
} as const;

export const webhookSchema = {
  $id: 'WatchWebhook',
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', maxLength: 2048, description: 'An http(s) URL without credentials.' },
    on: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', enum: [...OUTCOMES] },
      description: 'Outcomes this target wants; all when absent.',
    },
  },
} as const;

export const watchRequestSchema = {
  $id: 'WatchRequest',
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'actionId'],
  properties: {
    kind: {
      type: 'string',
      enum: [...WATCH_KINDS],
      description:
        'The resource type of the action; `action` watches it through GET /v2/actions/{id} alone (no resourceId).',
    },
    resourceId: {
      type: ['integer', 'string'],
      maxLength: 64,
      description:
        'The droplet or image id (a positive whole number, or its digits as a string), the volume or NFS share UUID, or the reserved/floating IP address; required for every kind but `action`.',
    },
    actionId: { type: ['integer', 'string'], description: 'The action id: a positive whole number.' },
    timeout: {
      type: 'string',
      maxLength: 32,
      description: 'End as timed_out after this long, e.g. 30m or 6h; default WATCH_TIMEOUT.',
    },
    webhooks: {
      type: 'array',
      maxItems: MAX_WEBHOOKS_PER_WATCH,
      items: { $ref: 'WatchWebhook#' },
      description: 'Extra targets for this watch’s outcome (ignored when joining an existing watch).',
    },
    tokenProfile: {
      type: 'string',
      maxLength: 64,
      description:
        'Observe with the token of this profile (DIGITALOCEAN_TOKEN_<NAME> on the workers; a letter then up to 31 letters, digits or _, any case; default is DIGITALOCEAN_TOKEN): the watch goes to the profile’s queue and rate budget, and its id is <profile>.<kind>-<resourceId>-<actionId>. This server does not need the token.',
    },
  },
} as const;

export const batchRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['watches'],
  properties: {
    watches: { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: { $ref: 'WatchRequest#' } },
  },
} as const;

export const watchSchema = {
  $id: 'Watch',
  type: 'object',
  required: [
    'id',
    'kind',
    'resourceId',
    'actionId',
    'state',
    'outcome',
    'action',
    'polls',
    'enqueuedAt',
    'finishedAt',
    'deadlineAt',
    'eta',
    'etaBasis',
  ],
  properties: {
    id: {
      type: 'string',
      description:
        '<kind>-<resourceId>-<actionId> (an IPv6 address with _ for :), action-<actionId>, or droplet-<dropletId>-deleted (a deletion watch), after <tokenProfile>. for a token profile’s watch',
    },
    kind: { type: 'string', enum: [...WATCH_KINDS] },
    resourceId: {
      type: ['integer', 'string', 'null'],
      description:
        'A whole number for droplets and images, a UUID or address for the other kinds, null for `action`.',
    },
    actionId: {
      type: ['integer', 'null'],
      description: 'The watched action; null for a deletion watch (awaits: deletion), which has none.',
    },
    awaits: {
      type: 'string',
      enum: ['deletion'],
      description:
        'Only on a deletion watch (`run droplet delete`): it ends completed once GET /v2/droplets/{id} answers 404. Absent on every action watch.',
    },
    state: { type: 'string', enum: ['waiting', 'done'] },
    outcome: { type: ['string', 'null'], enum: [...OUTCOMES, null] },
    action: {
      type: ['object', 'null'],
      additionalProperties: true,
      description: 'The last DigitalOcean action object seen, as the API returned it.',
    },
    polls: { type: 'integer' },
    enqueuedAt: { type: 'string', format: 'date-time' },
    finishedAt: { ...nullable('string'), format: 'date-time' },
    deadlineAt: { ...nullable('string'), format: 'date-time' },
    eta: {
      ...nullable('string'),
      format: 'date-time',
      description:
        'When a waiting watch’s action likely ends, from the learned durations of its kind and type; null once done or when its action outlived every one learned.',
    },
    etaBasis: {
      type: ['string', 'null'],
      enum: ['region', 'learned', 'kind', 'default', 'outlived', null],
      description:
        'What eta rests on: region (durations of this action type in its region), learned (of this action type), kind (of its resource kind), default (nothing learned yet: a built-in spread of 10 s to 2 h), outlived (no estimate); null once done.',
    },
    reason: { type: 'string', description: 'Why, for timed_out, not_found and cancelled.' },
    lastError: { type: 'string', description: 'The last failed poll of a waiting watch.' },
    tokenProfile: {
      type: 'string',
      description: 'The token profile whose token observes it; absent for DIGITALOCEAN_TOKEN.',
    },
  },
} as const;

export const watchResultSchema = {
  type: 'object',
  required: ['created', 'watch'],
  properties: {
    created: { type: 'boolean', description: 'False when the action was already watched.' },
    watch: { $ref: 'Watch#' },
  },
} as const;

export const watchIdParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      pattern: WATCH_ID_PATTERN,
      maxLength: 128,
      description:
        'e.g. droplet-3164444-36804636, reserved_ip-45.55.96.47-72531856, droplet-3164444-deleted (a deletion watch), or team_b.droplet-3164444-36804636 for a token profile',
    },
  },
} as const;

/** Query strings stay strings (no type coercion anywhere), and are converted after these checks. */
export const listQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: ['waiting', 'done', 'all'], default: 'all' },
    kind: { type: 'string', enum: [...WATCH_KINDS] },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: '1 to 1000; default 100.' },
    cursor: { type: 'string', maxLength: 200, description: 'nextCursor of the previous page.' },
  },
} as const;

export const watchPageSchema = {
  type: 'object',
  required: ['watches', 'nextCursor'],
  properties: {
    watches: { type: 'array', items: { $ref: 'Watch#' } },
    nextCursor: { ...nullable('string'), description: 'Pass as cursor for the next page; null at the end.' },
  },
} as const;

export const waitQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    timeout: {
      type: 'string',
      maxLength: 32,
      description: 'How long to hold the request, e.g. 30s (default) up to 5m.',
    },
  },
} as const;

/** How many watches one event stream may follow with `watch.progress` events. */
export const MAX_PROGRESS_WATCHES = 100;

export const eventsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: {
      type: 'string',
      maxLength: 200,
      description: `Comma-separated event types to send, among ${EVENT_TYPES.join(', ')}; all when absent.`,
    },
    lastEventId: {
      type: 'string',
      maxLength: 64,
      description: 'Resume after this event id (for clients that cannot send the Last-Event-ID header).',
    },
    watch: {
      type: 'string',
      maxLength: 8_000,
      description: `Comma-separated watch ids (at most ${MAX_PROGRESS_WATCHES}) to follow: while each waits, a \`watch.progress\` event (no id: not part of the stream, never replayed) every few seconds carries it as GET /v1/watches/{id} would, with its eta.`,
    },
  },
} as const;

export const errorResponses = {
  400: { description: 'Bad input', $ref: 'Error#' },
  401: { description: 'Missing or wrong bearer token', $ref: 'Error#' },
} as const;

export const SHARED_SCHEMAS = [errorSchema, webhookSchema, watchRequestSchema, watchSchema];
