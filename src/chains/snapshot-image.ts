import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Action, Snapshot } from '../digitalocean/models.js';

/** How long a completed snapshot's image may take to show up in the droplet's snapshot list. */
export const SNAPSHOT_LOOKUP_MS = 2 * 60_000;
/** How often the list is read again meanwhile. */
export const SNAPSHOT_LOOKUP_RETRY_MS = 2_000;

/** How long after its action started a snapshot may be stamped and still be taken for its image. */
export const SNAPSHOT_MATCH_TOLERANCE_MS = 5 * 60_000;

/**
 * The image a completed droplet `snapshot` action made. DigitalOcean's action does not name it;
 * what users do is list the droplet's snapshots and take the one created when the action started
 * (DigitalOcean stamps a snapshot with its action's start), else the closest one after it within
 * a tolerance. With a name given, snapshots of that name come first.
 */
export async function findSnapshotImage(
  client: DigitalOceanClient,
  dropletId: number,
  action: Action,
  name?: string,
): Promise<Snapshot | undefined> {
  const startedAt = Date.parse(action.started_at ?? '');
  if (!Number.isFinite(startedAt)) return undefined;
  let best: { snapshot: Snapshot; rank: [number, number] } | undefined;
  for await (const snapshot of client.iterateDropletSnapshots(dropletId)) {
    const after = Date.parse(snapshot.created_at) - startedAt;
    if (!Number.isFinite(after) || after < 0 || after > SNAPSHOT_MATCH_TOLERANCE_MS) continue;
    const rank: [number, number] = [name !== undefined && snapshot.name === name ? 0 : 1, after];
    if (best === undefined || rank[0] < best.rank[0] || (rank[0] === best.rank[0] && rank[1] < best.rank[1]))
      best = { snapshot, rank };
  }
  return best?.snapshot;
}
