import { isResourceKind, type ResourceKind } from '../digitalocean/models.js';
import { type ActionRecord, type ActionResult, ActionStore } from './action-store.js';
import { FaultQueue } from './faults.js';
import type { CreateActionInput, SimulatorOptions } from './options.js';
import type { ListOrder } from './pagination.js';
import { SlidingWindowRateLimiter } from './rate-limiter.js';
import { isRegionSlug } from './regions.js';
import { StatsRecorder } from './stats.js';

export const DEFAULT_TOKENS: readonly string[] = ['sim-token'];
export const DEFAULT_DURATION_MS = 5000;
export const DEFAULT_RATE_LIMIT = { perMinute: 250, perHour: 5000 } as const;
export const DEFAULT_FIRST_ACTION_ID = 100_000_000;
export const DEFAULT_FIRST_IMAGE_ID = 150_000_000;

/** Everything the HTTP routes and the public class share; no knowledge of Fastify here. */
export class SimulatorState {
  readonly store: ActionStore;
  readonly limiter: SlidingWindowRateLimiter;
  readonly faults = new FaultQueue();
  readonly stats = new StatsRecorder();
  readonly listOrder: ListOrder;
  readonly completedAtNullOnDropletGet: boolean;
  readonly now: () => number;
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
    this.store = new ActionStore({
      firstActionId: positiveInteger('firstActionId', options.firstActionId ?? DEFAULT_FIRST_ACTION_ID),
      firstImageId: positiveInteger('firstImageId', options.firstImageId ?? DEFAULT_FIRST_IMAGE_ID),
    });
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

  /** Validates like an API would, throwing `Error` with a readable message. */
  createAction(input: CreateActionInput): ActionRecord {
    const kind: unknown = input.kind;
    if (typeof kind !== 'string' || !isResourceKind(kind)) throw new Error('kind must be droplet or image');
    positiveInteger('resourceId', input.resourceId);
    if (this.store.isDeleted(kind, input.resourceId))
      throw new Error(`${kind} ${input.resourceId} was deleted`);
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
        resourceId: input.resourceId,
        type,
        durationMs: nonNegative('durationMs', input.durationMs ?? this.durationFor(type)),
        result: input.result ?? 'completed',
        regionSlug: input.region,
        startedAtMs: input.startedAt === undefined ? now : finite('startedAt', input.startedAt),
        initialStatus: input.initialStatus,
        snapshotName: input.snapshotName,
      },
      now,
    );
  }

  finishAction(id: number, result: ActionResult): ActionRecord {
    if (result !== 'completed' && result !== 'errored')
      throw new Error('result must be completed or errored');
    return this.store.finish(id, result, this.now());
  }

  deleteResource(kind: ResourceKind, id: number): void {
    this.store.deleteResource(kind, id);
  }
}

function defaultType(kind: ResourceKind): string {
  return kind === 'droplet' ? 'reboot' : 'transfer';
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
