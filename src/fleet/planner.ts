import type { ResourceId, WatchKind } from '../digitalocean/models.js';
import { hasScopedActions } from '../digitalocean/resource-ids.js';

/** A watch due for an observation, as the planner weighs it. */
export interface PlannerTarget {
  watchId: string;
  actionId: number;
  kind: WatchKind;
  resourceId: ResourceId | null;
  /**
   * What observing it now is worth: the chance its action ended since it was last seen running
   * (from learned durations), plus one if it was never seen (its type, start and place are unknown).
   */
  value: number;
  /** The page of GET /v2/actions expected to hold it, if the account listing can reach it. */
  page: number | undefined;
  /** Only its own GET can resolve it (the action was seen under another resource, or is not listed). */
  directOnly: boolean;
  /**
   * Due before its poll schedule asks (the budget has room to look sooner): it is read only when
   * its request would end enough waiting (see `splitEarly`).
   */
  early?: boolean;
  /**
   * The detection delay, in seconds, a look now is expected to end: the chance its action ended
   * since it was last seen (`value`, for a watch seen before) times half the time since.
   */
  delayS?: number;
}

export interface PlanInput<T extends PlannerTarget = PlannerTarget> {
  targets: readonly T[];
  /** Requests the planner may spend now (list pages plus the watches' own GETs). */
  allowance: number;
  /** Whether resource-scoped lists may be used (they failed recently otherwise). */
  resourceLists: boolean;
  /**
   * The least worth a request must have when the budget is tight (0: every due watch is worth
   * observing): with the burst of the allowance spent, a request should find something ended.
   */
  minWorth?: number;
  /**
   * The least expected delay, in seconds summed over its targets, a request made only for early
   * targets must end (default `EARLY_READ_DELAY_S`).
   */
  earlyDelayS?: number;
}

/**
 * An early look is worth a request once the actions it would see ended have, in expectation,
 * waited this many seconds in all. For a page whose watched actions end at λ a second this reads
 * it every √(2 × 2 s ÷ λ): often for a page where many end, seldom for one where few can.
 */
export const EARLY_READ_DELAY_S = 2;

export interface ResourceGroup<T extends PlannerTarget = PlannerTarget> {
  kind: WatchKind;
  resourceId: ResourceId;
  targets: T[];
}

export interface Plan<T extends PlannerTarget = PlannerTarget> {
  /** Account listing pages to read, with the targets each is expected to hold. */
  pages: Map<number, T[]>;
  resources: ResourceGroup<T>[];
  /** Targets left to their own GET. */
  direct: T[];
  /** Targets not observed this round: the budget is short and others are likelier to have ended. */
  held: T[];
  /** Early targets not worth a request yet: nothing they share a request with is likely to have ended. */
  waiting: T[];
  /** Requests the plan expects to make. */
  cost: number;
  /** True when the allowance could not cover every target. */
  short: boolean;
}

type Candidate<T extends PlannerTarget> =
  | { kind: 'page'; page: number; members: T[]; rank: 0 }
  | { kind: 'resource'; group: ResourceGroup<T>; members: T[]; rank: 1 }
  | { kind: 'single'; members: T[]; rank: 2 };

/** Every candidate costs one request: a page, a resource's list page, or a GET. */
const COST = 1;

/**
 * Chooses how to observe the watches due now. Each request is a candidate: a listing page (all
 * due watches it is expected to hold), a resource's own list (when at least two due watches share
 * the resource) or one watch's GET. First the cheapest cover of every target, picked greedily by
 * targets per request (lists before GETs on ties); if that costs more than the allowance, the
 * allowance goes instead to the candidates worth the most per request, worth being the summed
 * chances that the watches' actions have ended, and the rest wait.
 */
export function plan<T extends PlannerTarget>(input: PlanInput<T>): Plan<T> {
  const { read, waiting } = splitEarly(input.targets, input.earlyDelayS ?? EARLY_READ_DELAY_S);
  const candidates = candidatesOf({ ...input, targets: read });
  const minWorth = input.minWorth ?? 0;
  if (minWorth <= 0) {
    const full = greedy(candidates, () => 1, Number.POSITIVE_INFINITY, 0);
    if (full.cost <= input.allowance) return toPlan(full.chosen, read, waiting, full.cost, false);
  }
  const weighted = greedy(candidates, (target) => target.value, input.allowance, minWorth);
  const result = toPlan(weighted.chosen, read, waiting, weighted.cost, true);
  result.short = result.held.length > 0;
  return result;
}

/**
 * Which early targets to read now. A page is read anyway when it holds a target its schedule
 * wants looked at (the early ones on it come along for free); otherwise a page, or a target's own
 * GET, is read early only when the delay it would end (each watched action's chance of having
 * ended since last seen, times half the time since) adds up to `minDelayS`. So pages where many
 * actions are likely to have ended are re-read first and most often (as often as the budget
 * allows), and pages whose actions cannot have ended yet (by learned durations) are not read.
 */
export function splitEarly<T extends PlannerTarget>(
  targets: readonly T[],
  minDelayS: number,
): { read: T[]; waiting: T[] } {
  if (!targets.some((target) => target.early)) return { read: [...targets], waiting: [] };
  const pages = new Map<number, { worth: number; scheduled: boolean }>();
  for (const target of targets) {
    if (target.directOnly || target.page === undefined) continue;
    const page = pages.get(target.page) ?? { worth: 0, scheduled: false };
    page.worth += target.delayS ?? target.value;
    page.scheduled ||= target.early !== true;
    pages.set(target.page, page);
  }
  const read: T[] = [];
  const waiting: T[] = [];
  for (const target of targets) {
    const page = target.directOnly || target.page === undefined ? undefined : pages.get(target.page);
    const worth = page?.worth ?? target.delayS ?? target.value;
    if (target.early !== true || page?.scheduled === true || worth >= minDelayS) read.push(target);
    else waiting.push(target);
  }
  return { read, waiting };
}

/**
 * The cheaper way to observe `watched` due actions sharing one listing page for the same
 * promptness: the page when it answers two or more (one request instead of several GETs), a GET
 * when it answers one (same cost, and a GET cannot miss an action that moved pages).
 */
export function cheaperRequest(watchedOnPage: number): 'page' | 'get' {
  return watchedOnPage >= 2 ? 'page' : 'get';
}

function candidatesOf<T extends PlannerTarget>(input: PlanInput<T>): Candidate<T>[] {
  const candidates: Candidate<T>[] = [];
  const pages = new Map<number, T[]>();
  const resources = new Map<string, ResourceGroup<T>>();
  for (const target of input.targets) {
    candidates.push({ kind: 'single', members: [target], rank: 2 });
    if (target.directOnly) continue;
    if (target.page !== undefined) {
      const members = pages.get(target.page) ?? [];
      members.push(target);
      pages.set(target.page, members);
    }
    // Only kinds DigitalOcean lists per resource have a resource list to share.
    const resourceId = target.resourceId;
    if (input.resourceLists && resourceId !== null && hasScopedActions(target.kind)) {
      const key = `${target.kind}-${resourceId}`;
      const group = resources.get(key) ?? { kind: target.kind, resourceId, targets: [] };
      group.targets.push(target);
      resources.set(key, group);
    }
  }
  for (const [page, members] of pages) {
    if (cheaperRequest(members.length) === 'page') candidates.push({ kind: 'page', page, members, rank: 0 });
  }
  for (const group of resources.values()) {
    if (group.targets.length >= 2)
      candidates.push({ kind: 'resource', group, members: group.targets, rank: 1 });
  }
  return candidates;
}

/**
 * Lazy greedy set cover: take the candidate with the highest worth of still-uncovered targets per
 * request while the budget lasts; a candidate's worth only falls as others cover its targets, so a
 * stale score at the top is re-scored and put back rather than taken.
 */
function greedy<T extends PlannerTarget>(
  candidates: readonly Candidate<T>[],
  worth: (target: T) => number,
  budget: number,
  minWorth: number,
): { chosen: Candidate<T>[]; cost: number } {
  const covered = new Set<string>();
  const score = (candidate: Candidate<T>) =>
    candidate.members.reduce((sum, target) => (covered.has(target.watchId) ? sum : sum + worth(target)), 0) /
    COST;
  const better = (
    a: { score: number; candidate: Candidate<T> },
    b: { score: number; candidate: Candidate<T> },
  ) => b.score - a.score || a.candidate.rank - b.candidate.rank;
  const queue = candidates.map((candidate) => ({ score: score(candidate), candidate })).sort(better);
  const chosen: Candidate<T>[] = [];
  let cost = 0;
  while (cost + COST <= budget) {
    const top = queue.shift();
    if (top === undefined) break;
    const current = score(top.candidate);
    if (current <= 0 || current < minWorth) continue;
    const next = queue[0];
    if (
      current < top.score &&
      next !== undefined &&
      better({ score: current, candidate: top.candidate }, next) > 0
    ) {
      insertSorted(queue, { score: current, candidate: top.candidate }, better);
      continue;
    }
    chosen.push(top.candidate);
    cost += COST;
    for (const target of top.candidate.members) covered.add(target.watchId);
  }
  return { chosen, cost };
}

function insertSorted<T>(items: T[], item: T, compare: (a: T, b: T) => number): void {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    const current = items[middle];
    if (current !== undefined && compare(current, item) <= 0) low = middle + 1;
    else high = middle;
  }
  items.splice(low, 0, item);
}

function toPlan<T extends PlannerTarget>(
  chosen: Candidate<T>[],
  targets: readonly T[],
  waiting: T[],
  cost: number,
  short: boolean,
): Plan<T> {
  const result: Plan<T> = { pages: new Map(), resources: [], direct: [], held: [], waiting, cost, short };
  const assigned = new Set<string>();
  for (const candidate of chosen) {
    const members = candidate.members.filter((target) => !assigned.has(target.watchId));
    for (const target of members) assigned.add(target.watchId);
    if (candidate.kind === 'page') result.pages.set(candidate.page, members);
    else if (candidate.kind === 'resource') result.resources.push({ ...candidate.group, targets: members });
    else result.direct.push(...members);
  }
  result.held = targets.filter((target) => !assigned.has(target.watchId));
  return result;
}
