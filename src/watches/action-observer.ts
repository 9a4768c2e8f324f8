import type { DigitalOceanClient } from '../digitalocean/client.js';
import { type Action, classifyStatus } from '../digitalocean/models.js';
import { NotFoundError } from '../errors/digitalocean-api-error.js';
import type { WatchData } from './watch.js';
import type { ActionRef } from './watch-ref.js';

export type ActionObservation =
  /** `recheckInMs`: the observer keeps watching it meanwhile; the job may sleep that long. */
  | { found: true; action: Action; recheckInMs?: number }
  /** With `retryInMs`, not observed yet (no request was made): look again then, not a poll. */
  | { found: false; reason: string; retryInMs?: number };

/** What a watch with no action (a deletion) sees: done (`completed`), or still waiting. */
export type DeletionObservation = { found: true; action: null; status: 'completed' | 'in-progress' };

/** One look at what a watch waits on. */
export type Observation = ActionObservation | DeletionObservation;

export interface ObserveOptions {
  signal?: AbortSignal;
  /** The watch asking, for observers that share observations among watches. */
  watch?: WatchData;
}

/**
 * The one step that looks at an action. Everything else in a watch (schedule, outcome, events) is
 * independent of how the observation was made, so a batching observer that serves many watches
 * from one list request can replace this without touching the worker.
 */
export interface ActionObserver {
  observe(ref: ActionRef, options?: ObserveOptions): Promise<ActionObservation>;
}

/** Where an observer that sees an action end reports its duration, so ETAs can be learned. */
export interface DurationSink {
  learnFrom(action: Action): Promise<void>;
}

/**
 * One GET of the action's scoped endpoint per observation. With `durations`, every action it sees
 * end is learned from: a worker polling directly teaches ETAs as batched observation does.
 */
export class DirectObserver implements ActionObserver {
  constructor(
    private readonly client: DigitalOceanClient,
    private readonly durations?: DurationSink,
  ) {}

  async observe(ref: ActionRef, options: ObserveOptions = {}): Promise<ActionObservation> {
    try {
      const call = options.signal === undefined ? {} : { signal: options.signal };
      const action = await this.client.getResourceAction(ref.kind, ref.resourceId, ref.actionId, call);
      const status = classifyStatus(action.status);
      if (this.durations !== undefined && (status === 'completed' || status === 'errored'))
        await this.durations.learnFrom(action);
      return { found: true, action };
    } catch (error) {
      if (error instanceof NotFoundError) return { found: false, reason: error.message };
      throw error;
    }
  }
}
