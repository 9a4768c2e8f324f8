import { describe, expect, it } from 'vitest';
import { ActionProbablyStartedError } from '../src/errors/action-probably-started-error.js';
import { ActionRejectedError } from '../src/errors/action-rejected-error.js';
import { BudgetExhaustedError } from '../src/errors/budget-exhausted-error.js';
import {
  AnswerMismatchError,
  ClientError,
  ConnectionFailedError,
  ForbiddenError,
  NotFoundError,
  PageLinkError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
  UnreadableStartError,
} from '../src/errors/digitalocean-api-error.js';
import {
  decideFailure,
  FAILURE_POLICY,
  type FailureKind,
  failureOf,
  type StepKind,
} from '../src/errors/failure-policy.js';
import { RunKeyBusyError } from '../src/errors/run-key-busy-error.js';

const rejected = new ActionRejectedError('422', {
  kind: 'droplet',
  resourceId: 1,
  type: 'power_on',
  status: 422,
  pending: true,
  apiMessage: 'Droplet already has a pending event.',
});
const probablyStarted = new ActionProbablyStartedError({
  kind: 'droplet',
  resourceId: 1,
  type: 'snapshot',
  what: 'snapshot of droplet 1',
  answered: true,
  why: 'an empty body',
});

const EXAMPLES: Array<[FailureKind, unknown]> = [
  ['budget_exhausted', new BudgetExhaustedError(1_000, 'minute')],
  ['rate_limited', new RateLimitedError('429', 2_000)],
  ['unauthorized', new UnauthorizedError('401')],
  ['forbidden', new ForbiddenError('403')],
  ['answer_mismatch', new AnswerMismatchError('about 8', 7, 8, 'other_action')],
  ['transient', new TransientError('503')],
  ['transient', new ConnectionFailedError('ECONNREFUSED')],
  ['transient', new PageLinkError('a loop')],
  ['client_error', new ClientError('400')],
  ['not_found', new NotFoundError('404')],
  ['unreadable_start', new UnreadableStartError('201 without an action')],
  ['action_rejected', rejected],
  ['action_probably_started', probablyStarted],
  ['run_key_busy', new RunKeyBusyError('release-42', Date.now() + 1_000)],
  ['unknown', new Error('READONLY You can’t write against a read only replica.')],
  ['unknown', 'a string'],
];

describe('failureOf', () => {
  it.each(EXAMPLES)('names %s and keeps the error as it came', (kind, error) => {
    const failure = failureOf(error);
    expect(failure.kind).toBe(kind);
    expect(failure.error).toBe(error);
  });
});

/** What each step did before the table, one `instanceof` chain each (watch, chain, sweeper). */
const EXPECTED: Record<StepKind, Partial<Record<FailureKind, string>>> = {
  poll: {
    budget_exhausted: 'wait',
    rate_limited: 'pause',
    unauthorized: 'token-refused',
    forbidden: 'token-refused',
    answer_mismatch: 'retry',
    transient: 'retry',
    client_error: 'retry',
  },
  start: {
    action_rejected: 'fail',
    action_probably_started: 'fail',
    not_found: 'fail',
    run_key_busy: 'wait',
    budget_exhausted: 'wait',
    rate_limited: 'wait',
    transient: 'retry',
    answer_mismatch: 'retry',
    unauthorized: 'token-refused',
    forbidden: 'token-refused',
  },
  lookup: { transient: 'retry', answer_mismatch: 'retry', rate_limited: 'retry', budget_exhausted: 'retry' },
  list: {
    budget_exhausted: 'wait',
    rate_limited: 'wait',
    unauthorized: 'token-refused',
    forbidden: 'token-refused',
  },
};
const FALLBACK: Record<StepKind, string> = { poll: 'throw', start: 'throw', lookup: 'throw', list: 'retry' };
EXPECTED.list = {
  budget_exhausted: 'wait',
  rate_limited: 'wait',
  unauthorized: 'token-refused',
  forbidden: 'token-refused',
};

describe('FAILURE_POLICY', () => {
  const kinds = Object.keys(FAILURE_POLICY) as FailureKind[];

  it('has a row for every kind failureOf gives', () => {
    expect(new Set(kinds)).toEqual(new Set(EXAMPLES.map(([kind]) => kind)));
  });

  it.each(['poll', 'start', 'lookup', 'list'] as const)(
    '%s: each kind gets what that step did before, anything else its fallback',
    (step) => {
      for (const kind of kinds) {
        expect(FAILURE_POLICY[kind][step], `${step} ${kind}`).toBe(EXPECTED[step][kind] ?? FALLBACK[step]);
      }
    },
  );

  it('never fails a watch for a failed poll, and never sends a start again that may have landed', () => {
    for (const kind of kinds) expect(FAILURE_POLICY[kind].poll).not.toBe('fail');
    expect(decideFailure(probablyStarted, 'start').response).toBe('fail');
    expect(decideFailure(new UnreadableStartError('201'), 'start').response).toBe('throw');
  });

  it('lets an unknown error (a bug, Redis) propagate from every step but the sweeper’s listing', () => {
    const error = new Error('Connection is closed.');
    expect(decideFailure(error, 'poll')).toEqual({ failure: { kind: 'unknown', error }, response: 'throw' });
    expect(decideFailure(error, 'start').response).toBe('throw');
    expect(decideFailure(error, 'lookup').response).toBe('throw');
    expect(decideFailure(error, 'list').response).toBe('retry');
  });
});
