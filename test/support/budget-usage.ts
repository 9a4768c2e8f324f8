import type { BudgetUsage } from '../../src/digitalocean/request-budget.js';

/** A budget's usage with nothing spent, at the limits less 10 % headroom; `overrides` on top. */
export function budgetUsage(overrides: Partial<BudgetUsage> = {}): BudgetUsage {
  return {
    profile: 'default',
    minute: { used: 0, limit: 225 },
    hour: { used: 0, limit: 4500 },
    lastRemaining: null,
    lastResetAtMs: null,
    lastObservedAtMs: null,
    grantedSinceObservation: 0,
    estimatedRemaining: null,
    pausedUntil: 0,
    pauseReason: null,
    ...overrides,
  };
}
