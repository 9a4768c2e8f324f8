import type { ResourceId, RunKind } from '../digitalocean/models.js';

/**
 * DigitalOcean refused to start an action (a 4xx other than 401/403/404/429, usually a 422). No
 * action was started. `pending` tells the one refusal that goes away by itself: the resource is
 * busy with another action ("Droplet already has a pending event").
 */
export class ActionRejectedError extends Error {
  constructor(
    message: string,
    readonly details: {
      kind: RunKind;
      /** null for a droplet create (the droplets have no ids yet). */
      resourceId: ResourceId | null;
      type: string;
      status: number | undefined;
      /** The resource has an action in progress; the same request may succeed once it ends. */
      pending: boolean;
      /** DigitalOcean's own message. */
      apiMessage: string;
    },
  ) {
    super(message);
    this.name = 'ActionRejectedError';
  }

  get pending(): boolean {
    return this.details.pending;
  }
}
