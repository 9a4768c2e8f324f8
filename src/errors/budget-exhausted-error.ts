/**
 * The shared request budget (or a rate-limit pause) says no request may be made for `waitMs`.
 * No request was sent.
 */
export class BudgetExhaustedError extends Error {
  constructor(
    readonly waitMs: number,
    readonly reason: string,
  ) {
    super(`request budget exhausted (${reason}); next request allowed in ${Math.ceil(waitMs)} ms`);
    this.name = 'BudgetExhaustedError';
  }
}
