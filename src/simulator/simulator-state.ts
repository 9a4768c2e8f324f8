import {
  ACTION_KINDS,
  type ActionKind,
  checkResourceId,
  isActionKind,
  type ResourceId,
} from './action-kinds.js';
import { type ActionEffect, type ActionRecord, type ActionResult, ActionStore } from './action-store.js';
import { FaultQueue } from './faults.js';
import type { CreateActionInput, SimulatorOptions } from './options.js';
import type { ListOrder } from './pagination.js';
import { SlidingWindowRateLimiter } from './rate-limiter.js';
import { isRegionSlug } from './regions.js';
import { ResourceLifecycle } from './resource-lifecycle.js';
import { StatsRecorder } from './stats.js';

export const DEFAULT_TOKENS: readonly string[] = ['sim-token'];
export const DEFAULT_DURATION_MS = 5000;
export const DEFAULT_RATE_LIMIT = { perMinute: 250, perHour: 5000 } as const;
export const DEFAULT_FIRST_ACTION_ID = 100_000_000;
export const DEFAULT_FIRST_IMAGE_ID = 150_000_000;
export const DEFAULT_FIRST_DROPLET_ID = 400_000_000;

/** Everything the HTTP routes and the public class share; no knowledge of Fastify here. */
export class SimulatorState {
  readonly store: ActionStore;
  readonly limiter: SlidingWindowRateLimiter;
  readonly faults = new FaultQueue();
  readonly stats = new StatsRecorder();
  readonly listOrder: ListOrder;
  readonly completedAtNullOnDropletGet: boolean;
  readonly now: () => number;
  readonly firstDropletId: number;
  readonly deleteDelayMs: number;
  readonly lifecycle: ResourceLifecycle;
  private tokens: Set<string>;
  private readonly defaultDurationMs: number;
  private readonly durationsByType: Readonly<Record<string, number>>;

  constructor(options: SimulatorOptions) {
    this.now = options.now ?? Date.now;
    this.tokens = new Set(options.tokens ?? DEFAULT_TOKENS);
    const rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    if (rateLimit !== false && !(rateLimit.perHour >= 1 && rateLimit.perMinute >= 1)) {
      throw new Error('rateLimit.perHour and rateLimit.perMinute must be at least 1');
    }
    this.limiter = new SlidingWindowRateLimiter(rateLimit);
    this.listOrder = options.listOrder ?? 'oldest-first';
    if (this.listOrder !== 'oldest-first' && this.listOrder !== 'newest-first') {
      throw new Error(`listOrder must be oldest-first or newest-first (got ${String(this.listOrder)})`);
    }
    this.completedAtNullOnDropletGet = options.completedAtNullOnDropletGet ?? false;
    this.defaultDurationMs = nonNegative(
      'defaultDurationMs',
      options.defaultDurationMs ?? DEFAULT_DURATION_MS,
    );
    this.durationsByType = { ...options.durationsByType };
    this.firstDropletId = positiveInteger(
      'firstDropletId',
      options.firstDropletId ?? DEFAULT_FIRST_DROPLET_ID,
    );
    this.deleteDelayMs = nonNegative('deleteDelayMs', options.deleteDelayMs ?? 0);
    this.store = new ActionStore({
      firstActionId: positiveInteger('firstActionId', options.firstActionId ?? DEFAULT_FIRST_ACTION_ID),
      firstImageId: positiveInteger('firstImageId', options.firstImageId ?? DEFAULT_FIRST_IMAGE_ID),
    });
    this.lifecycle = new ResourceLifecycle(this);
  }

  isAccepted(token: string): boolean {
    return this.tokens.has(token);
  }

  setTokens(tokens: readonly string[]): void {
    this.tokens = new Set(tokens);
  }

  addToken(token: string): void {
    this.tokens.add(token);
  }

  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  acceptedTokens(): string[] {
    return [...this.tokens];
  }

  durationFor(type: string): number {
    return this.durationsByType[type] ?? this.defaultDurationMs;
  }

  /**
   * Validates like an API would, throwing `Error` with a readable message. `effect` is what the
   * action changes if it completes (the HTTP routes pass it; the programmatic API has none).
   */
  createAction(input: CreateActionInput, effect?: ActionEffect): ActionRecord {
    const kind: unknown = input.kind;
    if (!isActionKind(kind)) throw new Error(`kind must be one of ${ACTION_KINDS.join(', ')}`);
    const resourceId = checkResourceId(kind, input.resourceId);
    if (this.store.isDeleted(kind, resourceId)) throw new Error(`${kind} ${resourceId} was deleted`);
    if (input.region !== undefined && !isRegionSlug(input.region))
      throw new Error(`unknown region ${input.region}`);
    if (input.result !== undefined && input.result !== 'completed' && input.result !== 'errored') {
      throw new Error('result must be completed or errored');
    }
    if (input.type !== undefined && (typeof input.type !== 'string' || input.type === '')) {
      throw new Error('type must be a non-empty string');
    }
    if (input.initialStatus !== undefined) {
      if (typeof input.initialStatus.status !== 'string' || input.initialStatus.status === '') {
        throw new Error('initialStatus.status must be a non-empty string');
      }
      nonNegative('initialStatus.forMs', input.initialStatus.forMs);
    }
    const now = this.now();
    const type = input.type ?? defaultType(kind);
    return this.store.create(
      {
        kind,
        resourceId,
        type,
        durationMs: nonNegative('durationMs', input.durationMs ?? this.durationFor(type)),
        result: input.result ?? 'completed',
        regionSlug: input.region,
        startedAtMs: input.startedAt === undefined ? now : finite('startedAt', input.startedAt),
        initialStatus: input.initialStatus,
        snapshotName: input.snapshotName,
        ...(effect === undefined ? {} : { effect }),
      },
      now,
    );
  }

  finishAction(id: number, result: ActionResult): ActionRecord {
    if (result !== 'completed' && result !== 'errored')
      throw new Error('result must be completed or errored');
    return this.store.finish(id, result, this.now());
  }

  /** Gone at once (the control API and `Simulator.deleteResource`), whatever `deleteDelayMs` says. */
  deleteResource(kind: ActionKind, id: ResourceId): void {
    const key: unknown = id;
    if (!isActionKind(kind)) throw new Error(`kind must be one of ${ACTION_KINDS.join(', ')}`);
    this.store.deleteResource(kind, checkResourceId(kind, key));
  }
}

const DEFAULT_TYPES: Record<ActionKind, string> = {
  droplet: 'reboot',
  image: 'transfer',
  volume: 'attach_volume',
  reserved_ip: 'assign_ip',
  reserved_ipv6: 'assign_ip',
  floating_ip: 'assign_ip',
  nfs: 'RESIZE_SHARE',
};

function defaultType(kind: ActionKind): string {
  return DEFAULT_TYPES[kind];
}

function finite(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new Error(`${name} must be a finite number`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (finite(name, value) < 0) throw new Error(`${name} must be >= 0`);
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}
