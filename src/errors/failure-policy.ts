import { ActionProbablyStartedError } from './action-probably-started-error.js';
import { ActionRejectedError } from './action-rejected-error.js';
import { BudgetExhaustedError } from './budget-exhausted-error.js';
import {
  AnswerMismatchError,
  type ClientError,
  DigitalOceanApiError,
  type ForbiddenError,
  type NotFoundError,
  type RateLimitedError,
  type TransientError,
  type UnauthorizedError,
  type UnreadableStartError,
} from './digitalocean-api-error.js';
import { RunKeyBusyError } from './run-key-busy-error.js';

/**
 * How every step that talks to DigitalOcean decides what a failure means: `failureOf` names the
 * failure (with the error, typed, for the details a step needs: a wait, a fault, a pending flag),
 * and FAILURE_POLICY says, for each kind of step, what it does about it. The steps switch on that
 * answer; none of them decides retry or give-up with its own chain of `instanceof`.
 */
export type Failure =
  /** Our own request budget said no: nothing was sent. */
  | { kind: 'budget_exhausted'; error: BudgetExhaustedError }
  | { kind: 'rate_limited'; error: RateLimitedError }
  | { kind: 'unauthorized'; error: UnauthorizedError }
  | { kind: 'forbidden'; error: ForbiddenError }
  /** A 2xx about another action or resource, or malformed: a transient protocol fault. */
  | { kind: 'answer_mismatch'; error: AnswerMismatchError }
  | { kind: 'transient'; error: TransientError }
  | { kind: 'client_error'; error: ClientError }
  | { kind: 'not_found'; error: NotFoundError }
  | { kind: 'unreadable_start'; error: UnreadableStartError }
  /** DigitalOcean refused to start an action (`pending` when the resource is busy). */
  | { kind: 'action_rejected'; error: ActionRejectedError }
  /** A start that may have landed but cannot be identified: never sent again. */
  | { kind: 'action_probably_started'; error: ActionProbablyStartedError }
  /** Another caller is starting the same keyed action right now. */
  | { kind: 'run_key_busy'; error: RunKeyBusyError }
  /** Anything else: a bug, or Redis. Never taken for a DigitalOcean answer. */
  | { kind: 'unknown'; error: unknown };

export type FailureKind = Failure['kind'];

export function failureOf(error: unknown): Failure {
  if (error instanceof BudgetExhaustedError) return { kind: 'budget_exhausted', error };
  if (error instanceof ActionRejectedError) return { kind: 'action_rejected', error };
  if (error instanceof ActionProbablyStartedError) return { kind: 'action_probably_started', error };
  if (error instanceof RunKeyBusyError) return { kind: 'run_key_busy', error };
  // Before the kinds: a mismatch is a TransientError whose details a step reports on their own.
  if (error instanceof AnswerMismatchError) return { kind: 'answer_mismatch', error };
  if (error instanceof DigitalOceanApiError) {
    // `kind` and the class go together (each subclass fixes its kind), so this narrowing holds.
    return { kind: error.kind, error } as Failure;
  }
  return { kind: 'unknown', error };
}

/**
 * What a step does about a failure:
 * - `wait`: comes back once the quota (or the other caller) allows, after the error's own wait;
 *   the attempt does not count.
 * - `pause`: DigitalOcean asked for quiet: the whole queue pauses for the error's wait.
 * - `retry`: tries again later on its own schedule; the attempt counts.
 * - `token-refused`: the token is refused (401/403): whoever uses it is told and stops.
 * - `fail`: ends the watch or chain with an outcome.
 * - `throw`: nothing this step expects; the error propagates (BullMQ retries the job).
 */
export type FailureResponse = 'wait' | 'pause' | 'retry' | 'token-refused' | 'fail' | 'throw';

/**
 * The steps: `poll` (a watch's GET of its action), `start` (a chain step's POST), `lookup` (a
 * chain's search for a snapshot's image) and `list` (the fleet sweeper's listing of actions).
 */
export type StepKind = 'poll' | 'start' | 'lookup' | 'list';

export const FAILURE_POLICY: Readonly<Record<FailureKind, Readonly<Record<StepKind, FailureResponse>>>> = {
  budget_exhausted: { poll: 'wait', start: 'wait', lookup: 'retry', list: 'wait' },
  rate_limited: { poll: 'pause', start: 'wait', lookup: 'retry', list: 'wait' },
  unauthorized: { poll: 'token-refused', start: 'token-refused', lookup: 'throw', list: 'token-refused' },
  forbidden: { poll: 'token-refused', start: 'token-refused', lookup: 'throw', list: 'token-refused' },
  answer_mismatch: { poll: 'retry', start: 'retry', lookup: 'retry', list: 'retry' },
  transient: { poll: 'retry', start: 'retry', lookup: 'retry', list: 'retry' },
  client_error: { poll: 'retry', start: 'throw', lookup: 'throw', list: 'retry' },
  not_found: { poll: 'throw', start: 'fail', lookup: 'throw', list: 'retry' },
  unreadable_start: { poll: 'throw', start: 'throw', lookup: 'throw', list: 'retry' },
  action_rejected: { poll: 'throw', start: 'fail', lookup: 'throw', list: 'retry' },
  action_probably_started: { poll: 'throw', start: 'fail', lookup: 'throw', list: 'retry' },
  run_key_busy: { poll: 'throw', start: 'wait', lookup: 'throw', list: 'retry' },
  unknown: { poll: 'throw', start: 'throw', lookup: 'throw', list: 'retry' },
};

/** The failure `error` is, and what a step of kind `step` does about it. */
export function decideFailure(
  error: unknown,
  step: StepKind,
): { failure: Failure; response: FailureResponse } {
  const failure = failureOf(error);
  return { failure, response: FAILURE_POLICY[failure.kind][step] };
}
