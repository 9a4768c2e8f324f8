/** One planning round of one profile: what was due, and how each due watch was dealt with. */
export interface SweepReport {
  profile: string;
  /** Watches due for an observation. */
  due: number;
  /** Requests the planner could spend this round, and what it spent on lists. */
  allowance: number;
  pagesRead: number;
  resourceListsRead: number;
  /** Due watches seen on an account listing page, or on a resource's list. */
  viaAccountList: number;
  viaResourceList: number;
  /** Due watches left to their own GET (cheaper alone, not listed, or lists failing). */
  direct: number;
  /** Due watches not observed this round because the budget is short. */
  held: number;
  /** True when the budget could not cover every due watch. */
  short: boolean;
  /** Due watches looked at only if likely ended (the budget allows looking sooner than their schedule), left for later. */
  waiting: number;
  /**
   * The best detection the budget allows now, in ms: one read of every page holding watched
   * actions in progress (and every watch only its own GET sees) at `perMinute`.
   */
  boundMs: number;
  /** Requests one such pass takes. */
  passRequests: number;
  /** The pace the budget allows now (`burst`: the minute's allowance; `hourly`: paced so the hour lasts). */
  pace: 'burst' | 'hourly';
  perMinute: number;
  /** Watched actions observed by this round's lists, due or not. */
  observed: number;
  /** Watches promoted to finish now, their action seen ended. */
  promoted: number;
  listFailure?: string;
}

/** A round's report before anything happened in it. */
export function emptySweepReport(profile: string): SweepReport {
  return {
    profile,
    due: 0,
    allowance: 0,
    pagesRead: 0,
    resourceListsRead: 0,
    viaAccountList: 0,
    viaResourceList: 0,
    direct: 0,
    held: 0,
    short: false,
    waiting: 0,
    boundMs: 0,
    passRequests: 0,
    pace: 'hourly',
    perMinute: 0,
    observed: 0,
    promoted: 0,
  };
}
