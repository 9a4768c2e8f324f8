/**
 * actionwatch as a library: start DigitalOcean droplet and image actions, watch them durably
 * (BullMQ in Redis, one shared rate budget), chain them, and await their outcomes.
 *
 * ```ts
 * import { ActionWatcher } from 'actionwatch';
 *
 * const aw = await ActionWatcher.create({ worker: true });
 * const { watch } = await aw.run({ kind: 'image', resourceId: 7, type: 'transfer', region: 'ams3' });
 * const outcome = await aw.waitFor(watch, { timeout: '30m' });
 * ```
 *
 * @packageDocumentation
 */
export type {
  Chain,
  ChainEventType,
  ChainOutcome,
  ChainOutcomeRecord,
  RunState,
  StepState,
  StepStatus,
} from './chains/chain.js';
export { CHAIN_OUTCOMES } from './chains/chain.js';
export type { ChainPlanInput, ChainStepInput, RunInput } from './chains/chain-plan.js';
export type { ChainStateFilter } from './chains/chain-queue.js';
export { type Config, loadConfig } from './config/config.js';
export type { Action, ResourceId, ResourceKind, RunKind, WatchKind } from './digitalocean/models.js';
export { ActionProbablyStartedError } from './errors/action-probably-started-error.js';
export { ActionRejectedError } from './errors/action-rejected-error.js';
export { BudgetExhaustedError } from './errors/budget-exhausted-error.js';
export { ConfigError } from './errors/config-error.js';
export {
  AnswerMismatchError,
  ClientError,
  ConnectionFailedError,
  DigitalOceanApiError,
  ForbiddenError,
  NotFoundError,
  PageLinkError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
  UnreadableStartError,
} from './errors/digitalocean-api-error.js';
export { FeedClosedError } from './errors/feed-closed-error.js';
export { InputError } from './errors/input-error.js';
export { RedisConnectionError, type RedisFailure } from './errors/redis-connection-error.js';
export { WaitTimeoutError } from './errors/wait-timeout-error.js';
export {
  ActionWatcher,
  type ActionWatcherEvents,
  type ActionWatcherOptions,
  type CreateDropletsOptions,
  type CreateDropletsResult,
  type CreatedDroplet,
  type DeleteDropletOptions,
  type DeleteDropletResult,
  type Duration,
  type RunOptions,
  type RunResult,
  type WaitForOptions,
  type WatchOptions,
} from './library/action-watcher.js';
export type { Logger } from './logging/logger.js';
export type { DropletActionType } from './runs/droplet-actions.js';
export type { DropletCreateInput } from './runs/droplet-create.js';
export type { AddressedKind, RunRequest } from './runs/run-request.js';
export {
  OUTCOMES,
  type Outcome,
  type OutcomeRecord,
  type Watch,
  type WatchWebhook,
} from './watches/watch.js';
export { type ActionRef, type DeletionRef, type WatchRef, watchIdOf } from './watches/watch-ref.js';
