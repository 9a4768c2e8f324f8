import type { ActionPage } from '../digitalocean/client.js';

export type ListOrder = 'oldest-first' | 'newest-first';

/** What the pages read so far say about the order: a direction, or that ids are not in order. */
export type OrderKnowledge = ListOrder | 'unsorted' | undefined;

/** An action whose place in the listing a page showed: `position` counts from the oldest (0-based). */
interface Anchor {
  id: number;
  position: number;
  at: number;
}

export interface ListingSnapshot {
  order: OrderKnowledge;
  total: number | undefined;
  /** When `total` was read, and how fast it has been growing (actions per ms). */
  totalSeenAt?: number;
  growthPerMs?: number;
  orderSeenAt: number;
  anchors: Array<[id: number, position: number, at: number]>;
}

export interface PageLesson {
  /** Position (from the oldest) of every action on the page, when the order and total allow it. */
  positions: Map<number, number>;
  /** The page contradicts what was known (the order flipped, or ids are not in order). */
  conflict?: string;
  /** Smallest and largest id on the page, when the listing is in id order. */
  idRange?: [number, number];
}

export type PageEstimate = number | 'absent' | undefined;

const MAX_ANCHORS = 256;

/**
 * Where actions sit in GET /v2/actions, learned only from pages actually read. DigitalOcean does
 * not document the order, so nothing is assumed: each page's ids show the direction (and a page
 * that disagrees resets it), `meta.total` fixes where every page starts, and each page read leaves
 * anchors (id → position counted from the oldest) to locate other ids between them.
 *
 * Positions counted from the oldest do not move when actions are added (they always go to the
 * newest end), so a position learned once stays good in either order; only the page it falls on
 * moves, and that follows from the latest total. Deletions do shift them; a page that does not
 * hold what it should simply sends the sweep looking again, or the watch to its own GET.
 */
export class ListingModel {
  order: OrderKnowledge;
  total: number | undefined;
  orderSeenAt = 0;
  private totalSeenAt = 0;
  private growthPerMs = 0;
  private anchors: Anchor[] = [];

  constructor(
    readonly perPage: number,
    snapshot?: ListingSnapshot,
  ) {
    if (snapshot !== undefined) {
      this.order = snapshot.order;
      this.total = snapshot.total;
      this.orderSeenAt = snapshot.orderSeenAt;
      this.totalSeenAt = snapshot.totalSeenAt ?? 0;
      this.growthPerMs = snapshot.growthPerMs ?? 0;
      this.anchors = snapshot.anchors
        .map(([id, position, at]) => ({ id, position, at }))
        .sort((a, b) => a.id - b.id);
    }
  }

  snapshot(): ListingSnapshot {
    return {
      order: this.order,
      total: this.total,
      totalSeenAt: this.totalSeenAt,
      growthPerMs: this.growthPerMs,
      orderSeenAt: this.orderSeenAt,
      anchors: this.anchors.map(({ id, position, at }) => [id, position, at]),
    };
  }

  /** Whether pages can be computed from positions: a known direction and total. */
  get locatable(): boolean {
    return (this.order === 'oldest-first' || this.order === 'newest-first') && this.total !== undefined;
  }

  pageCount(total = this.total ?? 0): number {
    return Math.max(1, Math.ceil(total / this.perPage));
  }

  /** The page holding the action at `position` (from the oldest), for a total (the latest read). */
  pageOfPosition(position: number, total = this.total ?? 0): number {
    const clamped = Math.min(Math.max(0, position), Math.max(0, total - 1));
    const index = this.order === 'newest-first' ? total - 1 - clamped : clamped;
    return Math.min(this.pageCount(total), Math.floor(index / this.perPage) + 1);
  }

  /**
   * The total now, from the last one read and the rate it has been growing at: in newest-first
   * order every new action moves every page, so a busy account's pages are placed where they are
   * now rather than where they were at the last read.
   */
  expectedTotal(now: number): number | undefined {
    if (this.total === undefined) return undefined;
    const elapsed = Math.max(0, now - this.totalSeenAt);
    return this.total + Math.round(this.growthPerMs * Math.min(elapsed, 60_000));
  }

  /** The page showing the newest actions. */
  newestPage(): number {
    return this.order === 'oldest-first' ? this.pageCount() : 1;
  }

  /** Learns from one page as read; the total is the page's own `meta.total`. */
  learn(page: ActionPage, now: number): PageLesson {
    const ids = page.actions.map((action) => action.id);
    const seen = directionOf(ids);
    const lesson: PageLesson = { positions: new Map() };
    if (seen === 'unsorted') {
      if (this.order !== 'unsorted') lesson.conflict = 'the ids on a page are not in id order';
      this.order = 'unsorted';
      this.anchors = [];
      this.orderSeenAt = now;
      return lesson;
    }
    if (seen !== undefined) {
      if (this.order !== undefined && this.order !== seen) {
        lesson.conflict = `the listing is ${seen}, not ${this.order} as pages read before showed`;
        this.anchors = [];
      }
      this.order = seen;
      this.orderSeenAt = now;
    }
    const total = totalOf(page);
    if (total !== undefined) {
      if (this.total !== undefined && now > this.totalSeenAt) {
        const rate = Math.max(0, (total - this.total) / (now - this.totalSeenAt));
        this.growthPerMs = 0.7 * this.growthPerMs + 0.3 * rate;
      }
      this.total = total;
      this.totalSeenAt = now;
    }
    const known = this.total;
    if (ids.length > 0) {
      const first = ids[0] as number;
      const last = ids[ids.length - 1] as number;
      if (this.order !== undefined) lesson.idRange = [Math.min(first, last), Math.max(first, last)];
    }
    const order: OrderKnowledge = this.order ?? (known === 1 ? 'oldest-first' : undefined);
    if (known === undefined || order === undefined || order === 'unsorted') return lesson;
    const start = (page.page - 1) * page.perPage;
    ids.forEach((id, index) => {
      const fromStart = start + index;
      const position = order === 'oldest-first' ? fromStart : known - 1 - fromStart;
      if (position >= 0 && position < known) lesson.positions.set(id, position);
    });
    this.remember(lesson.positions, now);
    return lesson;
  }

  /**
   * Estimated page of each target: its recorded position if any; otherwise interpolated by id
   * between the anchors around it, or beyond the newest (oldest) anchor extrapolated by the id
   * density there. 'absent' when anchors on both sides leave no room for it.
   */
  estimatePages(
    targets: ReadonlyArray<{ actionId: number; position?: number | undefined }>,
    now: number,
  ): Map<number, PageEstimate> {
    const estimates = new Map<number, PageEstimate>();
    const total = this.expectedTotal(now);
    if (total !== undefined && total <= this.perPage && this.order !== undefined) {
      for (const target of targets) estimates.set(target.actionId, 1);
      return estimates;
    }
    if (!this.locatable || total === undefined) {
      for (const target of targets) estimates.set(target.actionId, undefined);
      return estimates;
    }
    const newer: number[] = [];
    const older = new Map<number, number[]>();
    for (const target of targets) {
      if (target.position !== undefined) {
        estimates.set(target.actionId, this.pageOfPosition(target.position, total));
        continue;
      }
      const { below, above } = this.around(target.actionId);
      if (below !== undefined && below.id === target.actionId) {
        estimates.set(target.actionId, this.pageOfPosition(below.position, total));
      } else if (above === undefined) {
        newer.push(target.actionId);
      } else if (below === undefined) {
        const group = older.get(above.position) ?? [];
        group.push(target.actionId);
        older.set(above.position, group);
      } else if (above.position - below.position <= 1) {
        estimates.set(target.actionId, 'absent');
      } else {
        const room = above.position - below.position - 1;
        const share = (target.actionId - below.id) / (above.id - below.id);
        const position = below.position + 1 + Math.min(room - 1, Math.floor(share * room));
        estimates.set(target.actionId, this.pageOfPosition(position, total));
      }
    }
    this.placeNewer(newer, total, estimates);
    this.placeOlder(older, total, estimates);
    return estimates;
  }

  /** Ids newer than every anchor: by the id density near the newest anchor, or packed at the newest end. */
  private placeNewer(ids: number[], total: number, estimates: Map<number, PageEstimate>): void {
    const newest = this.anchors[this.anchors.length - 1];
    const floor = newest === undefined ? 0 : newest.position + 1;
    const upward = this.density('newest');
    ids
      .sort((a, b) => b - a)
      .forEach((id, rank) => {
        // Ids per position near the newest anchor place it; without one, packed at the newest end.
        const position =
          newest !== undefined && upward !== undefined
            ? newest.position + Math.max(1, Math.round((id - newest.id) / upward))
            : total - 1 - rank;
        estimates.set(id, this.pageOfPosition(Math.min(total - 1, Math.max(floor, position)), total));
      });
  }

  /** Ids older than every anchor (grouped by that anchor's position): below it, by the density there. */
  private placeOlder(
    groups: ReadonlyMap<number, number[]>,
    total: number,
    estimates: Map<number, PageEstimate>,
  ): void {
    const above = this.anchors[0];
    if (above === undefined) return;
    const downward = this.density('oldest');
    for (const [abovePosition, ids] of groups) {
      ids
        .sort((a, b) => b - a)
        .forEach((id, rank) => {
          const position =
            downward !== undefined
              ? above.position - Math.max(1, Math.round((above.id - id) / downward))
              : abovePosition - 1 - rank;
          estimates.set(id, this.pageOfPosition(Math.max(0, position), total));
        });
    }
  }

  /**
   * Ids per position between the two anchors at one end: how far apart in id the account's
   * actions are there (DigitalOcean's ids are shared by all accounts, so this varies).
   */
  private density(end: 'newest' | 'oldest'): number | undefined {
    const count = this.anchors.length;
    if (count < 2) return undefined;
    const [a, b] = (end === 'newest' ? this.anchors.slice(count - 2) : this.anchors.slice(0, 2)) as [
      Anchor,
      Anchor,
    ];
    const perPosition = (b.id - a.id) / (b.position - a.position);
    return Number.isFinite(perPosition) && perPosition > 0 ? perPosition : undefined;
  }

  private around(id: number): { below: Anchor | undefined; above: Anchor | undefined } {
    let low = 0;
    let high = this.anchors.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.anchors[middle] as Anchor).id <= id) low = middle + 1;
      else high = middle;
    }
    return { below: this.anchors[low - 1], above: this.anchors[low] };
  }

  /**
   * Keeps the page's first and last action as anchors. Older anchors inside the page's id range
   * are superseded, and any that disagree with it (a deletion moved things since) are dropped.
   */
  private remember(positions: Map<number, number>, now: number): void {
    if (positions.size === 0) return;
    const entries = [...positions.entries()].sort((a, b) => a[0] - b[0]);
    const [lowId, lowPosition] = entries[0] as [number, number];
    const [highId, highPosition] = entries[entries.length - 1] as [number, number];
    const kept = this.anchors.filter((anchor) => {
      if (anchor.id >= lowId && anchor.id <= highId) return false;
      if (anchor.id < lowId) return anchor.position < lowPosition;
      return anchor.position > highPosition;
    });
    kept.push({ id: lowId, position: lowPosition, at: now });
    if (highId !== lowId) kept.push({ id: highId, position: highPosition, at: now });
    if (kept.length > MAX_ANCHORS) {
      kept.sort((a, b) => b.at - a.at);
      kept.length = MAX_ANCHORS;
    }
    this.anchors = kept.sort((a, b) => a.id - b.id);
  }
}

/**
 * The listing's size: `meta.total`; without it, what `links.pages` says: a page with no `next`
 * link is the last one, so everything before it plus its own actions. Otherwise unknown.
 */
export function totalOf(page: ActionPage): number | undefined {
  if (page.total !== undefined) return page.total;
  if (page.links.next === undefined && (page.actions.length > 0 || page.page === 1)) {
    return (page.page - 1) * page.perPage + page.actions.length;
  }
  return undefined;
}

/** The direction of a page's ids: increasing, decreasing, neither, or unknown (fewer than two). */
export function directionOf(ids: readonly number[]): OrderKnowledge {
  if (ids.length < 2) return undefined;
  let increasing = true;
  let decreasing = true;
  for (let i = 1; i < ids.length; i++) {
    const previous = ids[i - 1] as number;
    const current = ids[i] as number;
    if (current <= previous) increasing = false;
    if (current >= previous) decreasing = false;
  }
  if (increasing) return 'oldest-first';
  if (decreasing) return 'newest-first';
  return 'unsorted';
}
