import { type Action, actionSchema, type ResourceId, type WatchKind } from './models.js';
import { apiResourceId, isResourceTypeOf } from './resource-ids.js';

/**
 * What an answer was asked about: the resource whose action it is, and (for a single-action GET or
 * a watch) the action itself. A POST answer is asked about the resource only.
 */
export interface ActionQuestion {
  kind?: WatchKind;
  /** As the watch names it (a UUID, an address); null for kind `action`. */
  resourceId?: ResourceId | null;
  actionId?: number | undefined;
}

/** Why an action in an answer is not the one asked about; both sides are kept for the log line. */
export interface AnswerMismatch {
  /** `invalid`: the action is unusable whatever was asked (its id or status is malformed). */
  fault: 'invalid' | 'other_action' | 'other_resource';
  /** In words, naming both sides: `action -78617310 instead of 36804636`. */
  problem: string;
  /** The action id the answer carried (as it came: it may be negative or not a number at all). */
  answeredId: unknown;
}

/** DigitalOcean's ids are positive integers; anything else in an answer is a protocol fault. */
export function isApiId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/**
 * The one check of every action DigitalOcean hands us against the question it answers, used by
 * the client (single-action GETs, POST answers), batched observation (list entries a watch would
 * take) and discovery. The id must be a positive safe integer and the status a string; the id must
 * be the one asked for; `resource_id` and `resource_type` must be the watched resource's where the
 * answer has them (the documented action always has; older or scoped answers may leave them out).
 */
export function answerMismatch(action: Action, question: ActionQuestion): AnswerMismatch | undefined {
  const answeredId: unknown = action.id;
  if (!isApiId(answeredId))
    return { fault: 'invalid', problem: `an action id ${JSON.stringify(answeredId)}`, answeredId };
  if (typeof action.status !== 'string')
    return { fault: 'invalid', problem: `action ${answeredId} without a status string`, answeredId };
  if (question.actionId !== undefined && answeredId !== question.actionId)
    return {
      fault: 'other_action',
      problem: `action ${answeredId} instead of ${question.actionId}`,
      answeredId,
    };
  const resourceId: unknown = action.resource_id;
  const resourceType: unknown = action.resource_type;
  const { kind, resourceId: askedResource } = question;
  // The resource_id an answer about this resource carries, where the API's integer can name it
  // (see resource-ids.ts): a volume's action has null, an IPv6 address's an id of its own.
  const expectedId =
    kind === undefined || askedResource === undefined ? undefined : apiResourceId(kind, askedResource);
  const otherType =
    kind !== undefined &&
    resourceType != null &&
    !(typeof resourceType === 'string' && isResourceTypeOf(kind, resourceType));
  const otherId = expectedId !== undefined && resourceId != null && resourceId !== expectedId;
  if (otherType || otherId) {
    const asked = askedResource ?? '';
    const answered = `${String(resourceType ?? kind)} ${String(resourceId ?? asked)}`;
    return {
      fault: 'other_resource',
      problem: `action ${answeredId} of ${answered} instead of ${kind ?? 'resource'} ${asked}`.trimEnd(),
      answeredId,
    };
  }
  return undefined;
}

/** True when the action is the one asked about (see answerMismatch). */
export function answers(action: Action, question: ActionQuestion): boolean {
  return answerMismatch(action, question) === undefined;
}

/**
 * answerMismatch for an action as it came over the wire, not yet read: one that is not even an
 * action (a status that is not a string, an id that is not a number) is `invalid`.
 */
export function rawAnswerMismatch(raw: unknown, question: ActionQuestion): AnswerMismatch | undefined {
  const parsed = actionSchema.safeParse(raw);
  if (parsed.success) return answerMismatch(parsed.data, question);
  const answeredId: unknown = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : raw;
  const issue = parsed.error.issues[0];
  const where = issue === undefined ? '' : ` (${issue.path.join('.') || 'action'}: ${issue.message})`;
  return {
    fault: 'invalid',
    problem: `a malformed action ${JSON.stringify(answeredId) ?? ''}${where}`,
    answeredId,
  };
}
