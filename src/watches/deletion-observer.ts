import type { DigitalOceanClient } from '../digitalocean/client.js';
import { NotFoundError } from '../errors/digitalocean-api-error.js';
import type { DeletionObservation, ObserveOptions } from './action-observer.js';
import type { DeletionRef } from './watch-ref.js';

/**
 * Observes a droplet being deleted: one GET /v2/droplets/{id} per observation. A 404 is the
 * deletion done (`completed`); a droplet still there is still being deleted. It is always a
 * direct GET, on a batched worker too: no list of actions shows a deletion, which has no action.
 */
export class DeletionObserver {
  constructor(private readonly client: DigitalOceanClient) {}

  async observe(ref: DeletionRef, options: ObserveOptions = {}): Promise<DeletionObservation> {
    try {
      await this.client.getDroplet(
        ref.resourceId,
        options.signal === undefined ? {} : { signal: options.signal },
      );
      return { found: true, action: null, status: 'in-progress' };
    } catch (error) {
      if (error instanceof NotFoundError) return { found: true, action: null, status: 'completed' };
      throw error;
    }
  }
}
