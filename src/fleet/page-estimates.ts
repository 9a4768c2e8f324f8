import type { ListingModel } from './listing-model.js';
import type { PlannerTarget } from './planner.js';

/**
 * Sets each target's page: the page of GET /v2/actions the listing model expects to hold it, or
 * page 1 while the listing's order is unknown (page 1 shows it); a target the model knows is not
 * listed is left to its own GET. `positions` are the targets' recorded places, by action id.
 */
export function estimatePages(
  targets: readonly PlannerTarget[],
  model: ListingModel,
  positions: ReadonlyMap<number, number>,
  now: number,
): void {
  if (model.order === undefined || model.total === undefined) {
    for (const target of targets) if (!target.directOnly) target.page = 1;
    return;
  }
  const estimates = model.estimatePages(
    targets.map((target) => ({ actionId: target.actionId, position: positions.get(target.actionId) })),
    now,
  );
  for (const target of targets) {
    const estimate = estimates.get(target.actionId);
    if (estimate === 'absent') target.directOnly = true;
    else target.page = estimate;
  }
}
