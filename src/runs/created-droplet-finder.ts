import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Droplet } from '../digitalocean/models.js';
import type { CreateSpec } from './droplet-create.js';
import type { CreatedDropletEntry } from './run-keys.js';
import { CLOCK_SKEW_MS } from './started-action-finder.js';

function createdAt(droplet: Droplet): number {
  return Date.parse(droplet.created_at ?? '');
}

/**
 * Finds the droplets of a create whose answer was lost (or unreadable): those carrying the
 * create's tag, one per asked name, created since `sinceMs`, each with its `create` action.
 * undefined unless every name is found with its action: a partial find cannot say what the
 * request did, and creating the rest would be a second POST.
 */
export async function findCreatedDroplets(
  client: DigitalOceanClient,
  spec: CreateSpec,
  tag: string,
  sinceMs: number,
  signal?: AbortSignal,
): Promise<CreatedDropletEntry[] | undefined> {
  const from = Math.floor(sinceMs / 1000) * 1000 - CLOCK_SKEW_MS;
  const options = signal === undefined ? {} : { signal };
  const tagged = (await client.listDropletsByTag(tag, options)).filter(
    (droplet) => droplet.tags?.includes(tag) !== false && createdAt(droplet) >= from,
  );
  const found: CreatedDropletEntry[] = [];
  for (const name of spec.names) {
    const droplet = tagged
      .filter((candidate) => candidate.name === name)
      .sort((a, b) => createdAt(a) - createdAt(b) || a.id - b.id)[0];
    if (droplet === undefined) return undefined;
    let create: { id: number; at: number } | undefined;
    for await (const action of client.iterateResourceActions('droplet', droplet.id, options)) {
      if (action.type !== 'create') continue;
      const at = Date.parse(action.started_at ?? '');
      if (create === undefined || at < create.at) create = { id: action.id, at };
    }
    if (create === undefined) return undefined;
    found.push({ dropletId: droplet.id, name, actionId: create.id });
  }
  return found;
}
