import { randomUUID } from 'node:crypto';
import { InputError } from '../errors/input-error.js';
import { eventsKey } from '../watches/keys.js';

/**
 * Every Redis key a chain uses outside BullMQ's own, in one place; all under the deployment's
 * prefix, in the slot of its events stream.
 */
export const CHAIN_QUEUE = 'chains';

export function chainKey(prefix: string, chainId: string): string {
  return `${prefix}:chain:${chainId}`;
}

export function chainOutcomeKey(prefix: string, chainId: string): string {
  return `${prefix}:chain-outcome:${chainId}`;
}

/** The keys of record-outcome.lua for a chain: its outcome, and the events stream it shares with watches. */
export function recordChainOutcomeKeys(prefix: string, chainId: string): [string, string] {
  return [chainOutcomeKey(prefix, chainId), eventsKey(prefix)];
}

/** Sorted set of chain ids by creation time, for listing. */
export function chainIndexKey(prefix: string): string {
  return `${prefix}:chain-index`;
}

/** The idempotency key of run `run` of step `step`: the same on every retry of the chain job. */
export function chainRunKey(chainId: string, step: number, run: number): string {
  return `${chainId}.step-${step}.run-${run}`;
}

/** The idempotency key of run `run` of cleanup step `step` (of the plan's `onFailure`). */
export function chainCleanupRunKey(chainId: string, step: number, run: number): string {
  return `${chainId}.on-failure-${step}.run-${run}`;
}

const CHAIN_ID = /^chain-[A-Za-z0-9_.-]{1,128}$/;

/** `chain-<key>` for a keyed submission (so a retried submission joins it), else a fresh id. */
export function chainIdFor(key: string | undefined): string {
  return `chain-${key ?? randomUUID()}`;
}

export function parseChainId(text: string): string {
  if (!CHAIN_ID.test(text))
    throw new InputError(`chain id must look like chain-<key or uuid> (got ${JSON.stringify(text)})`);
  return text;
}
