import type { ActionPage, DigitalOceanClient } from '../digitalocean/client.js';
import { decideFailure } from '../errors/failure-policy.js';
import type { ListingModel } from './listing-model.js';

export interface SweepTarget {
  actionId: number;
  /** Its position in the listing from the oldest, when a page showed it before. */
  position: number | undefined;
}

export interface AccountSweepResult {
  reads: number;
  /** Targets seen on a page. */
  covered: Set<number>;
  /** Targets a page should have held by their id, but did not: not in the listing. */
  absent: Set<number>;
  /** Targets two pages that should have held them did not: left to their own GET. */
  gaveUp: Set<number>;
  /** Targets not reached within the pages allowed (or after a failure): for the next round. */
  notReached: Set<number>;
  conflict?: string;
  /** The list request failed (lists are then given a rest); not a budget refusal. */
  failure?: unknown;
  /** The budget refused the next request (or DigitalOcean answered 429): the rest waits. */
  outOfBudget?: boolean;
}

/** Misses after which a target is left to its own GET rather than searched for further. */
const MAX_MISSES = 2;

/**
 * Reads pages of GET /v2/actions to see a set of target actions, at most `maxReads` of them: each
 * time the page expected to hold the most targets still unseen, re-estimated after every page from
 * what that page showed (its total, order and ids), so pages shifting under the sweep, overlaps
 * and gaps cost at most a page more or a fallback to GET, never a wrong answer.
 */
export class AccountSweep {
  constructor(
    private readonly client: DigitalOceanClient,
    private readonly model: ListingModel,
    private readonly onPage: (page: ActionPage, positions: Map<number, number>) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  async run(
    targets: readonly SweepTarget[],
    maxReads: number,
    signal?: AbortSignal,
  ): Promise<AccountSweepResult> {
    const remaining = new Map(targets.map((target) => [target.actionId, { ...target }]));
    const misses = new Map<number, number>();
    const result: AccountSweepResult = {
      reads: 0,
      covered: new Set(),
      absent: new Set(),
      gaveUp: new Set(),
      notReached: new Set(),
    };
    const read = new Set<number>();
    while (remaining.size > 0 && result.reads < maxReads) {
      const choice = this.nextPage(remaining, read, result);
      if (choice === undefined) break;
      const listing = await this.readPage(choice.page, result, signal);
      if (listing === undefined) break;
      result.reads++;
      read.add(choice.page);
      const lesson = this.model.learn(listing, this.now());
      await this.onPage(listing, lesson.positions);
      const onPage = new Set(listing.actions.map((action) => action.id));
      for (const id of [...remaining.keys()]) {
        if (onPage.has(id)) {
          result.covered.add(id);
          remaining.delete(id);
        }
      }
      if (lesson.conflict !== undefined) {
        result.conflict = lesson.conflict;
        break;
      }
      this.afterMisses(lesson.idRange, choice.expected, remaining, misses, result);
    }
    for (const id of remaining.keys()) result.notReached.add(id);
    return result;
  }

  /** One page, or undefined when the request failed or the budget refused it (noted in `result`). */
  private async readPage(
    page: number,
    result: AccountSweepResult,
    signal: AbortSignal | undefined,
  ): Promise<ActionPage | undefined> {
    try {
      return await this.client.listActions({
        page,
        perPage: this.model.perPage,
        retries: 0,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (decideFailure(error, 'list').response === 'wait') result.outOfBudget = true;
      else result.failure = error;
      return undefined;
    }
  }

  /**
   * After a page: targets within its id range that it did not show are absent; a target it was
   * expected to hold is searched for by anchors from now on, and given up after `MAX_MISSES`.
   */
  private afterMisses(
    range: [number, number] | undefined,
    expected: ReadonlySet<number>,
    remaining: Map<number, SweepTarget>,
    misses: Map<number, number>,
    result: AccountSweepResult,
  ): void {
    for (const [id, target] of [...remaining]) {
      if (range !== undefined && id >= range[0] && id <= range[1]) {
        result.absent.add(id);
        remaining.delete(id);
        continue;
      }
      if (!expected.has(id)) continue;
      // It should have been here: a recorded position is stale; search by anchors instead.
      target.position = undefined;
      const missed = (misses.get(id) ?? 0) + 1;
      misses.set(id, missed);
      if (missed >= MAX_MISSES) {
        result.gaveUp.add(id);
        remaining.delete(id);
      }
    }
  }

  /**
   * Page 1 while the order or total is unknown (it shows both); then the page expected to hold the
   * most remaining targets. Targets the anchors leave no room for are absent.
   */
  private nextPage(
    remaining: Map<number, SweepTarget>,
    read: Set<number>,
    result: AccountSweepResult,
  ): { page: number; expected: Set<number> } | undefined {
    if (this.model.total === undefined || this.model.order === undefined) {
      return read.has(1) ? undefined : { page: 1, expected: new Set(remaining.keys()) };
    }
    if (this.model.total <= this.model.perPage && read.has(1)) {
      // Page 1 showed the whole listing: what it did not hold is not listed (yet).
      for (const id of remaining.keys()) result.absent.add(id);
      remaining.clear();
      return undefined;
    }
    const estimates = this.model.estimatePages([...remaining.values()], this.now());
    const byPage = new Map<number, Set<number>>();
    for (const [id, estimate] of estimates) {
      if (estimate === 'absent') {
        result.absent.add(id);
        remaining.delete(id);
      } else if (estimate !== undefined) {
        const group = byPage.get(estimate) ?? new Set<number>();
        group.add(id);
        byPage.set(estimate, group);
      }
    }
    let best: { page: number; expected: Set<number> } | undefined;
    for (const [page, expected] of byPage) {
      if (best === undefined || expected.size > best.expected.size) best = { page, expected };
    }
    // As in planning, a page for one target costs what its own GET does and may miss.
    return best !== undefined && best.expected.size >= 2 ? best : undefined;
  }
}
