import type { RateLimitSnapshot } from './rate-limit-headers.js';

/**
 * What the client needs from a rate budget: permission before each request, and every
 * response's rate-limit headers after it. The shared Redis-backed RequestBudget implements it.
 */
export interface RequestGate {
  /** Resolves when one request may be sent (and counts it); throws BudgetExhaustedError otherwise. */
  acquire(options?: { maxWaitMs?: number; signal?: AbortSignal }): Promise<void>;
  observe(snapshot: RateLimitSnapshot): Promise<void>;
  /** A 429 arrived: hold every user of this token back for `ms`. */
  pauseFor(ms: number, reason: string): Promise<void>;
}

/** For callers that meter requests elsewhere (or not at all, as against the simulator in a test). */
export const UNMETERED: RequestGate = {
  acquire: async () => {},
  observe: async () => {},
  pauseFor: async () => {},
};
