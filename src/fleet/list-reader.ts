import { z } from 'zod';
import type { ActionPage, DigitalOceanClient } from '../digitalocean/client.js';
import type { ResourceId, WatchKind } from '../digitalocean/models.js';
import { decideFailure } from '../errors/failure-policy.js';
import type { Logger } from '../logging/logger.js';
import type { Redis } from '../support/redis.js';
import { parseForgivingRecord } from '../support/stored-record.js';
import { AccountSweep } from './account-sweep.js';
import type { DueTarget } from './due-watches.js';
import type { ListHealth } from './list-health.js';
import { ListingModel, type ListingSnapshot } from './listing-model.js';
import { MissedRounds } from './missed-rounds.js';
import type { ObservationStore } from './observation-store.js';
import type { PageRecorder, RoundView } from './page-recorder.js';
import type { Plan } from './planner.js';
import {
  type RoundTiming,
  type Settlement,
  settleAccountTargets,
  settleResourceTargets,
} from './round-settlement.js';
import type { SweepReport } from './sweep-report.js';

export const PER_PAGE = 200;
const LISTING_TTL_MS = 86_400_000;

export interface ListReaderOptions {
  client: DigitalOceanClient;
  /** A plain connection, and the key the listing model is kept under. */
  redis: Redis;
  listingKey: string;
  store: ObservationStore;
  recorder: PageRecorder;
  health: ListHealth;
  logger: Logger;
  profile: string;
}

/**
 * Makes a plan's list requests: the account listing's pages (through an `AccountSweep`) and the
 * resources' own lists, recording what each showed; says what became of their targets, and gives
 * lists a rest when they fail.
 */
export class ListReader {
  private readonly missedRounds = new MissedRounds();

  constructor(private readonly options: ListReaderOptions) {}

  /** Forgets the miss counts (with the watched set, once a minute). */
  forgetMisses(): void {
    this.missedRounds.clear();
  }

  async readAccountPages(
    chosen: Plan<DueTarget>,
    model: ListingModel,
    positions: ReadonlyMap<number, number>,
    round: RoundView,
    report: SweepReport,
    timing: RoundTiming,
  ): Promise<Settlement> {
    const targets = [...chosen.pages.values()].flat();
    if (targets.length === 0) return { seen: 0, direct: [], due: new Map() };
    const spare = Math.max(0, report.allowance - chosen.cost);
    const sweep = new AccountSweep(this.options.client, model, async (page, pagePositions) => {
      await this.options.recorder.record(page.actions, 'list', pagePositions, round, report);
    });
    const result = await sweep.run(
      targets.map((target) => ({ actionId: target.actionId, position: positions.get(target.actionId) })),
      chosen.pages.size + Math.min(2, spare),
    );
    report.pagesRead += result.reads;
    if (result.failure !== undefined) this.listsFailed(result.failure, report);
    else if (result.reads > 0) this.options.health.listsRead();
    const settled = settleAccountTargets(targets, result, this.missedRounds, timing);
    await this.options.store.forgetPositions(settled.forget);
    if (result.conflict !== undefined) {
      this.options.logger.warn(
        { profile: this.options.profile, conflict: result.conflict },
        'the action listing is not in the order pages showed before; locating watched actions afresh',
      );
    }
    await saveListingModel(this.options.redis, this.options.listingKey, model);
    return settled;
  }

  async readResourceLists(
    chosen: Plan<DueTarget>,
    round: RoundView,
    report: SweepReport,
    timing: RoundTiming,
  ): Promise<Settlement> {
    const settled: Settlement = { seen: 0, direct: [], due: new Map() };
    for (const group of chosen.resources) {
      const seen = await this.readResourceList(group.kind, group.resourceId, round, report);
      const part = settleResourceTargets(group.targets, seen, timing);
      settled.seen += part.seen;
      settled.direct.push(...part.direct);
      for (const [watchId, at] of part.due) settled.due.set(watchId, at);
    }
    return settled;
  }

  private async readResourceList(
    kind: WatchKind,
    resourceId: ResourceId,
    round: RoundView,
    report: SweepReport,
  ): Promise<Set<number> | 'out-of-budget' | undefined> {
    if (!this.options.health.resourceListsUsable(Date.now())) return undefined;
    let listing: ActionPage;
    try {
      const options = { page: 1, perPage: PER_PAGE, retries: 0 };
      listing = await this.options.client.listResourceActions(kind, resourceId, options);
    } catch (error) {
      // The policy's `wait` (budget spent, or 429): not a failure of lists, only no room this round.
      if (decideFailure(error, 'list').response === 'wait') return 'out-of-budget';
      this.options.health.resourceListFailed(error, Date.now());
      report.listFailure = error instanceof Error ? error.message : String(error);
      return undefined;
    }
    report.resourceListsRead++;
    return this.options.recorder.record(listing.actions, 'resource-list', undefined, round, report);
  }

  private listsFailed(error: unknown, report: SweepReport): void {
    const backoff = this.options.health.listsFailed(error, Date.now());
    report.listFailure = error instanceof Error ? error.message : String(error);
    this.options.logger.warn(
      { profile: this.options.profile, err: report.listFailure, retryInMs: backoff },
      'listing actions failed; the watches it would have observed poll with their own GET meanwhile',
    );
  }
}

/** A kept `ListingSnapshot` (JSON leaves out an unknown order or total). */
const listingSnapshotSchema = z.object({
  order: z.enum(['oldest-first', 'newest-first', 'unsorted']).optional(),
  total: z.number().optional(),
  totalSeenAt: z.number().optional(),
  growthPerMs: z.number().optional(),
  orderSeenAt: z.number(),
  anchors: z.array(z.tuple([z.number(), z.number(), z.number()])),
});

/** What the sweepers learned about GET /v2/actions, or a blank model if nothing (readable) is kept. */
export async function loadListingModel(redis: Redis, key: string): Promise<ListingModel> {
  const json = await redis.get(key);
  const snapshot = json === null ? undefined : parseListingSnapshot(json);
  return new ListingModel(PER_PAGE, snapshot);
}

/** A kept snapshot, or undefined when it is not one (a blank model is then used). */
export function parseListingSnapshot(json: string): ListingSnapshot | undefined {
  const parsed = parseForgivingRecord(listingSnapshotSchema, json);
  if (parsed === undefined) return undefined;
  const { order, total, ...rest } = parsed;
  return { order, total, ...rest };
}

async function saveListingModel(redis: Redis, key: string, model: ListingModel): Promise<void> {
  await redis.set(key, JSON.stringify(model.snapshot()), 'PX', LISTING_TTL_MS);
}
