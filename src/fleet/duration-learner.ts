import type { Action } from '../digitalocean/models.js';
import type { Redis } from '../support/redis.js';
import { durationsKey } from './fleet-keys.js';

/** Bucket i holds durations up to 1 s × 1.5^i: 1 s … about 4.7 h, then one overflow bucket. */
const BUCKETS = 25;
const RATIO = 1.5;
const FIRST_BOUND_MS = 1000;
const BOUNDS_MS = Array.from({ length: BUCKETS }, (_, i) => FIRST_BOUND_MS * RATIO ** i);

/** Before any history: durations spread evenly in log scale from 10 s to 2 h, worth one sample. */
const PRIOR_LOW_MS = 10_000;
const PRIOR_HIGH_MS = 7_200_000;
const PRIOR_WEIGHT = 1;
/** A kind's history stands in for a type's own until the type has this many samples of its own. */
const KIND_PRIOR_MIN_SAMPLES = 5;
const REFRESH_MS = 5_000;
/** An action still running when its history says this share had ended has outlived what is known. */
const OUTLIVED = 0.99;

function bucketOf(durationMs: number): number {
  const index = BOUNDS_MS.findIndex((bound) => durationMs <= bound);
  return index === -1 ? BUCKETS : index;
}

/** Share of bucket i's durations at or below `ms`, reading the bucket as log-uniform. */
function bucketShareBelow(index: number, ms: number): number {
  const high = BOUNDS_MS[index] ?? Number.POSITIVE_INFINITY;
  const low = index === 0 ? 0 : (BOUNDS_MS[index - 1] as number);
  if (ms >= high) return 1;
  if (ms <= low) return 0;
  if (index === 0) return ms / high;
  return Math.log(ms / low) / Math.log(high / low);
}

function priorCdf(ms: number): number {
  if (ms <= PRIOR_LOW_MS) return 0;
  if (ms >= PRIOR_HIGH_MS) return 1;
  return Math.log(ms / PRIOR_LOW_MS) / Math.log(PRIOR_HIGH_MS / PRIOR_LOW_MS);
}

/** A type's history in one region stands in for the type's own once it has this many samples. */
const REGION_MIN_SAMPLES = 3;

/**
 * What an estimate of how long an action runs rests on: its type's history in its region, its
 * type's, its resource kind's, or the built-in default before anything is learned.
 */
export type EstimateBasis = 'region' | 'learned' | 'kind' | 'default';

export type DurationEstimate =
  | { remainingMs: number; basis: EstimateBasis }
  /** It has run longer than nearly every action learned: history cannot say how much longer. */
  | { remainingMs: undefined; basis: 'outlived' };

class Histogram {
  readonly counts: number[] = Array(BUCKETS + 1).fill(0);
  total = 0;

  add(index: number, count: number): void {
    this.counts[index] = (this.counts[index] ?? 0) + count;
    this.total += count;
  }

  /** Samples at or below `ms` (fractional within a bucket). */
  below(ms: number): number {
    let sum = 0;
    this.counts.forEach((count, index) => {
      if (count > 0) sum += count * bucketShareBelow(index, ms);
    });
    return sum;
  }
}

/**
 * How long actions take, learned from every action a watch saw end: one small log-scale
 * histogram per `<kind>:<type>` in Redis, shared by every worker and profile. The planner asks it
 * how likely an action still running at its last look has ended by now.
 */
export class DurationLearner {
  private readonly key: string;
  private types = new Map<string, Histogram>();
  private kinds = new Map<string, Histogram>();
  /** `<kind>:<type>@<region>`: kept beside the type's (not in it), for estimates only. */
  private regions = new Map<string, Histogram>();
  private loadedAt = 0;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = durationsKey(prefix);
  }

  async learn(kind: string, type: string, durationMs: number, region?: string): Promise<void> {
    if (!Number.isFinite(durationMs) || durationMs < 0) return;
    const bucket = bucketOf(durationMs);
    await this.redis.hincrby(this.key, `${kind}:${type}|${bucket}`, 1);
    this.histogram(this.types, `${kind}:${type}`).add(bucket, 1);
    this.histogram(this.kinds, kind).add(bucket, 1);
    if (region === undefined || region === '' || region.includes('|')) return;
    await this.redis.hincrby(this.key, `${kind}:${type}@${region}|${bucket}`, 1);
    this.histogram(this.regions, `${kind}:${type}@${region}`).add(bucket, 1);
  }

  /** Learns from an action that ended: its kind, type and `completed_at − started_at`. */
  async learnFrom(action: Action): Promise<void> {
    const started = action.started_at ? Date.parse(action.started_at) : Number.NaN;
    const completed = action.completed_at ? Date.parse(action.completed_at) : Number.NaN;
    if (action.type === undefined || action.resource_type === undefined) return;
    if (Number.isNaN(started) || Number.isNaN(completed)) return;
    const region = action.region_slug ?? action.region?.slug ?? undefined;
    await this.learn(action.resource_type, action.type, completed - started, region);
  }

  /** Re-reads the shared history when the local copy is older than a few seconds. */
  async refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.loadedAt < REFRESH_MS) return;
    const raw = await this.redis.hgetall(this.key);
    const types = new Map<string, Histogram>();
    const kinds = new Map<string, Histogram>();
    const regions = new Map<string, Histogram>();
    for (const [field, value] of Object.entries(raw)) {
      const bar = field.lastIndexOf('|');
      const name = field.slice(0, bar);
      const bucket = Number(field.slice(bar + 1));
      const count = Number(value);
      if (bar <= 0 || !Number.isInteger(bucket) || bucket < 0 || bucket > BUCKETS || !(count > 0)) continue;
      if (name.includes('@')) {
        this.histogram(regions, name).add(bucket, count);
        continue;
      }
      this.histogram(types, name).add(bucket, count);
      this.histogram(kinds, name.slice(0, name.indexOf(':'))).add(bucket, count);
    }
    this.types = types;
    this.kinds = kinds;
    this.regions = regions;
    this.loadedAt = Date.now();
  }

  /** Probability that an action of this kind and type has ended `elapsedMs` after it started. */
  endedBy(kind: string, type: string | undefined, elapsedMs: number): number {
    const ms = Math.max(0, elapsedMs);
    const kindHistory = this.kinds.get(kind);
    const prior =
      kindHistory !== undefined && kindHistory.total >= KIND_PRIOR_MIN_SAMPLES
        ? kindHistory.below(ms) / kindHistory.total
        : priorCdf(ms);
    const own = type === undefined ? undefined : this.types.get(`${kind}:${type}`);
    if (own === undefined || own.total === 0) return prior;
    return (own.below(ms) + PRIOR_WEIGHT * prior) / (own.total + PRIOR_WEIGHT);
  }

  /**
   * Probability that an action seen running `lastElapsedMs` after its start has ended by
   * `elapsedMs`: what one more look at it is worth.
   */
  endedSince(kind: string, type: string | undefined, lastElapsedMs: number, elapsedMs: number): number {
    const before = this.endedBy(kind, type, lastElapsedMs);
    const now = this.endedBy(kind, type, elapsedMs);
    if (before >= 1) return 1;
    return Math.min(1, Math.max(0, (now - before) / (1 - before)));
  }

  /**
   * How much longer an action seen running `elapsedMs` after its start likely runs: the time by
   * which it has ended with probability `quantile`, at most `capMs`.
   */
  remainingMs(
    kind: string,
    type: string | undefined,
    elapsedMs: number,
    quantile = 0.9,
    capMs = 3_600_000,
  ): number {
    // Outlived nearly everything learned (a long type whose kind so far saw only short ones end):
    // the history cannot say how much longer, so assume the longest.
    if (this.endedBy(kind, type, elapsedMs) >= OUTLIVED) return capMs;
    // The history holds only actions that ended, so early on it knows the short ones best: an
    // action is taken to run at least as long again as it has run.
    const atLeast = Math.min(capMs, elapsedMs);
    let step = FIRST_BOUND_MS;
    for (let waited = step; waited < capMs; waited += step) {
      if (this.endedSince(kind, type, elapsedMs, elapsedMs + waited) >= quantile)
        return Math.max(atLeast, waited);
      step *= 1.25;
    }
    return capMs;
  }

  /**
   * The likely rest of an action seen running `elapsedMs` after its start: the median of what the
   * history says is left (not the cautious `remainingMs`, which plans the next look), and what that
   * rests on. With a region, the type's history in that region leads once it has a few samples
   * (the type's whole history weighs in as one more).
   */
  estimate(
    kind: string,
    type: string | undefined,
    elapsedMs: number,
    options: { region?: string | undefined; capMs?: number } = {},
  ): DurationEstimate {
    const capMs = options.capMs ?? 6 * 3_600_000;
    const elapsed = Math.max(0, elapsedMs);
    const local =
      type === undefined || options.region === undefined
        ? undefined
        : this.regions.get(`${kind}:${type}@${options.region}`);
    const useRegion = local !== undefined && local.total >= REGION_MIN_SAMPLES;
    const endedBy = (ms: number) => {
      const overall = this.endedBy(kind, type, ms);
      if (!useRegion) return overall;
      return (local.below(Math.max(0, ms)) + PRIOR_WEIGHT * overall) / (local.total + PRIOR_WEIGHT);
    };
    const before = endedBy(elapsed);
    if (before >= OUTLIVED) return { remainingMs: undefined, basis: 'outlived' };
    const basis = useRegion ? 'region' : this.basisOf(kind, type);
    const ended = (waited: number) => (endedBy(elapsed + waited) - before) / (1 - before) >= 0.5;
    let low = 0;
    let high = FIRST_BOUND_MS;
    while (high < capMs && !ended(high)) {
      low = high;
      high *= 1.5;
    }
    if (high >= capMs) return { remainingMs: capMs, basis };
    // Within the bracket to the nearest 1 %: enough for a time shown to the second.
    while (high - low > Math.max(100, high / 100)) {
      const middle = (low + high) / 2;
      if (ended(middle)) high = middle;
      else low = middle;
    }
    return { remainingMs: Math.round(high), basis };
  }

  private basisOf(kind: string, type: string | undefined): EstimateBasis {
    if (type !== undefined && (this.types.get(`${kind}:${type}`)?.total ?? 0) > 0) return 'learned';
    if ((this.kinds.get(kind)?.total ?? 0) >= KIND_PRIOR_MIN_SAMPLES) return 'kind';
    return 'default';
  }

  /** Samples behind a type's estimate, for logs. */
  samples(kind: string, type: string): number {
    return this.types.get(`${kind}:${type}`)?.total ?? 0;
  }

  private histogram(map: Map<string, Histogram>, name: string): Histogram {
    let histogram = map.get(name);
    if (histogram === undefined) {
      histogram = new Histogram();
      map.set(name, histogram);
    }
    return histogram;
  }
}
