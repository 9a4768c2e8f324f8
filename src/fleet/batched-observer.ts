import type { PollSchedule } from '../config/config.js';
import { BudgetExhaustedError } from '../errors/budget-exhausted-error.js';
import { loadLua } from '../support/lua.js';
import type { Redis } from '../support/redis.js';
import type { ActionObserver, Observation, ObserveOptions } from '../watches/action-observer.js';
import { actionAgeMs, baseInterval } from '../watches/schedule.js';
import type { WatchData } from '../watches/watch.js';
import { type ActionRef, watchIdOf } from '../watches/watch-ref.js';
import type { DurationLearner } from './duration-learner.js';
import { type FleetKeys, fleetKeys } from './fleet-keys.js';
import { decodeObservation, isEnded, ObservationStore, observes } from './observation-store.js';
import { decodeRegistration, type Registration, WatchRegistry } from './watch-registry.js';

/** One snapshot per step, by script rather than MULTI (see watch-registry.ts for why). */
const READ_STATE = loadLua(import.meta.url, 'read-watch-state');

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
  private readonly keys: FleetKeys;
  private readonly registry: WatchRegistry;
  private readonly store: ObservationStore;
  private readonly random: () => number;

  constructor(private readonly options: BatchedObserverOptions) {
    this.keys = fleetKeys(options.prefix, options.profile);
    this.registry = new WatchRegistry(options.redis, this.keys);
    this.store = new ObservationStore(options.redis, this.keys);
    this.random = options.random ?? Math.random;
  }

  async observe(ref: ActionRef, options: ObserveOptions = {}): Promise<Observation> {
    const watch = options.watch;
    if (watch === undefined) return this.options.direct.observe(ref, options);
    const now = Date.now();
    const watchId = watchIdOf({ ...ref, tokenProfile: this.options.tokenProfile });
    const [observationJson, entryJson, directUntil, swept] = (await this.options.redis.eval(
      READ_STATE,
      4,
      this.keys.observations,
      this.keys.watches,
      this.keys.direct,
      this.keys.healthy,
      String(ref.actionId),
      watchId,
    )) as [string | null, string | null, string | null, number];
    const seen = observationJson === null ? undefined : decodeObservation(observationJson);
    const observation = seen !== undefined && observes(ref, seen.action) ? seen : undefined;
    const entry = decodeRegistration(entryJson);
    if (observation !== undefined && isEnded(observation.action)) {
      await this.registry.remove([watchId]);
      return { found: true, action: observation.action };
    }
    const sleep = Math.max(1, Math.min(this.options.sleepMs, watch.deadlineAt - now));
    // At its deadline a watch looks once more, for real: an action that just ended is reported so.
    const lookedAfter = swept === 1 && !(Number(directUntil ?? 0) > now) && now < watch.deadlineAt;
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
      const interval = baseInterval(
        this.options.schedule,
        actionAgeMs(observation.action, watch.enqueuedAt, now),
      );
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
  ): Promise<Observation> {
    let result: Observation;
    try {
      result = await this.options.direct.observe(ref, options);
    } catch (error) {
      if (!(error instanceof BudgetExhaustedError)) throw error;
      // No request was made. The sweeper may still see it meanwhile (and promote it if it ended).
      const retry = Math.min(
        sleep,
        Math.max(error.waitMs, this.options.schedule.minIntervalMs) + this.random() * 1_000,
      );
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
    const interval = baseInterval(this.options.schedule, actionAgeMs(action, watch.enqueuedAt, observedAt));
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
