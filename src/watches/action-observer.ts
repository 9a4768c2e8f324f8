import type { DigitalOceanClient } from '../digitalocean/client.js';
import type { Action } from '../digitalocean/models.js';
import { NotFoundError } from '../errors/digitalocean-api-error.js';
import type { ActionRef } from './watch-ref.js';

export type Observation = { found: true; action: Action } | { found: false; reason: string };

/**
 * The one step that looks at an action. Everything else in a watch (schedule, outcome, events) is
 * independent of how the observation was made, so a batching observer that serves many watches
 * from one list request can replace this without touching the worker.
 */
export interface ActionObserver {
  observe(ref: ActionRef, options?: { signal?: AbortSignal }): Promise<Observation>;
}

/** One GET of the action's scoped endpoint per observation. */
export class DirectObserver implements ActionObserver {
  constructor(private readonly client: DigitalOceanClient) {}

  async observe(ref: ActionRef, options: { signal?: AbortSignal } = {}): Promise<Observation> {
    try {
      const action = await this.client.getResourceAction(ref.kind, ref.resourceId, ref.actionId, options);
      return { found: true, action };
    } catch (error) {
      if (error instanceof NotFoundError) return { found: false, reason: error.message };
      throw error;
    }
  }
}
