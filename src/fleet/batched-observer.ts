import type { PollSchedule } from '../config/config.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { readTogether } from '../support/batched-read.js';
import type { Redis } from '../support/redis.js';
import type { ActionObservation, ActionObserver, ObserveOptions } from '../watches/action-observer.js';
import { batchedBudgetRetry, intervalFor } from '../watches/schedule.js';
import type { WatchData } from '../watches/watch.js';
import { type ActionRef, watchIdOf } from '../watches/watch-ref.js';
import type { DurationLearner } from './duration-learner.js';
import { fleetKeys } from './fleet-keys.js';
import { isEnded, ObservationStore, observes } from './observation-store.js';
import { type Registration, WatchRegistry } from './watch-registry.js';

export interface BatchedObserverOptions {
  redis: Redis;
  prefix: string;
  profile: string;
  /** The watch id's profile part: undefined for the default profile. */
  tokenProfile: string | undefined;
  /** One GET per observation, for watches lists cannot serve. */
  direct: ActionObserver;
  schedule: PollSchedule;
  learner: DurationLearner;
  /** How long a watch sleeps while the sweeper looks after it. */
  sleepMs: number;
  apiClock: () => number;
  random?: () => number;
}

/**
 * The observer of batched mode. It answers a watch's step from the observation the profile's
 * sweeper recorded (no request), or, while the profile's sweeper is healthy and has not left
 * the watch to its own GET, lets the watch sleep until the sweeper observes it (a job whose action
 * ends is promoted at once). Otherwise (no sweeper alive, the planner chose a GET for it, or lists
 * cannot see it) it makes the watch's own GET, as the direct observer would, and records it.
 */
export class BatchedObserver implements ActionObserver {
  private readonly registry: WatchRegistry;
  private readonly store: ObservationStore;
  private readonly random: () => number;

  constructor(private readonly options: BatchedObserverOptions) {
    const keys = fleetKeys(options.prefix, options.profile);
    this.registry = new WatchRegistry(options.redis, keys);
    this.store = new ObservationStore(options.redis, keys);
    this.random = options.random ?? Math.random;
  }

  async observe(ref: ActionRef, options: ObserveOptions = {}): Promise<ActionObservation> {
    const watch = options.watch;
    if (watch === undefined) return this.options.direct.observe(ref, options);
    const now = Date.now();
    const watchId = watchIdOf({ ...ref, tokenProfile: this.options.tokenProfile });
    // One round trip, one consistent view: the profile's fleet keys share a slot.
    const [seen, entry, directUntil, swept] = await readTogether(this.options.redis, [
      this.store.read(ref.actionId),
      this.registry.entryRead(watchId),
      this.registry.directUntilRead(watchId),
      this.registry.sweptRead(),
    ]);
    const observation = seen !== undefined && observes(ref, seen.action) ? seen : undefined;
    if (observation !== undefined && isEnded(observation.action)) {
      await this.registry.remove([watchId]);
      return { found: true, action: observation.action };
    }
    const sleep = Math.max(1, Math.min(this.options.sleepMs, watch.deadlineAt - now));
    // At its deadline a watch looks once more, for real: an action that just ended is reported so.
    const lookedAfter = swept && !(directUntil > now) && now < watch.deadlineAt;
    if (lookedAfter) {
      const givenAt = entry?.givenAt ?? 0;
      if (observation !== undefined && observation.observedAt > givenAt) {
        await this.registry.register(
          watchId,
          registration(watch, now + sleep, observation.observedAt),
          now,
          false,
        );
        return { found: true, action: observation.action, recheckInMs: sleep };
      }
      await this.registry.register(watchId, registration(watch, now + sleep, givenAt), now, false);
      return { found: false, reason: 'waiting for a shared list sweep to observe it', retryInMs: sleep };
    }
    if (observation !== undefined && observation.observedAt > (entry?.givenAt ?? 0)) {
      // A list saw it after this watch last looked, recently enough: no need for its own GET.
      const interval = intervalFor(this.options.schedule, observation.action, watch.enqueuedAt, now);
      if (observation.observedAt >= now - interval) {
        await this.registry.register(
          watchId,
          registration(watch, now + interval, observation.observedAt),
          observation.observedAt + interval,
          true,
        );
        return { found: true, action: observation.action };
      }
    }
    return this.observeDirectly(ref, watch, watchId, entry, sleep, options);
  }

  private async observeDirectly(
    ref: ActionRef,
    watch: WatchData,
    watchId: string,
    entry: Registration | undefined,
    sleep: number,
    options: ObserveOptions,
  ): Promise<ActionObservation> {
    let result: ActionObservation;
    try {
      result = await this.options.direct.observe(ref, options);
    } catch (error) {
      if (!(error instanceof BudgetExhaustedError)) throw error;
      // No request was made. The sweeper may still see it meanwhile (and promote it if it ended).
      const retry = batchedBudgetRetry(this.options.schedule, error.waitMs, sleep, this.random);
      const now = Date.now();
      await this.registry.register(watchId, registration(watch, now + retry, entry?.givenAt ?? 0), now, true);
      return { found: false, reason: error.message, retryInMs: Math.round(retry) };
    }
    if (!result.found) {
      await this.registry.remove([watchId]);
      return result;
    }
    const observedAt = Date.now();
    const action = result.action;
    const ended = await this.store.record([
      { action, observedAt, apiObservedAt: this.options.apiClock(), via: 'get' },
    ]);
    if (ended.includes(action.id)) await this.options.learner.learnFrom(action);
    if (isEnded(action)) {
      await this.registry.remove([watchId]);
      return result;
    }
    const interval = intervalFor(this.options.schedule, action, watch.enqueuedAt, observedAt);
    await this.registry.register(
      watchId,
      registration(watch, observedAt + interval, observedAt),
      observedAt + interval,
      true,
    );
    return result;
  }
}

function registration(watch: WatchData, wakeAt: number, givenAt: number): Registration {
  return { enqueuedAt: Date.parse(watch.enqueuedAt), deadlineAt: watch.deadlineAt, wakeAt, givenAt };
}
