export { ACTION_KINDS, type ActionKind, type ResourceId } from './action-kinds.js';
export { DROPLET_ACTION_TYPES, IMAGE_ACTION_TYPES } from './action-requests.js';
export type { ActionResult } from './action-store.js';
export type { FaultKind, FaultMatch, FaultSpec } from './faults.js';
export type { BackgroundOptions, CreateActionInput, SimulatorOptions } from './options.js';
export type { ListOrder } from './pagination.js';
export type { RateLimitConfig } from './rate-limiter.js';
export { REGION_SLUGS } from './regions.js';
export { Simulator } from './simulator.js';
export {
  DEFAULT_DURATION_MS,
  DEFAULT_FIRST_ACTION_ID,
  DEFAULT_RATE_LIMIT,
  DEFAULT_TOKENS,
} from './simulator-state.js';
export type { SimulatorStats } from './stats.js';
