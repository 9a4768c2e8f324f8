/** Counters for the DigitalOcean-facing routes (the `/_sim/` control API is not counted). */
export interface SimulatorStats {
  totalRequests: number;
  /** Same as `totalRequests`. */
  requests: number;
  /** Keyed `METHOD /route/:pattern`, e.g. `GET /v2/actions/:id`; unmatched paths as `GET (unmatched)`. */
  byRoute: Record<string, number>;
  /** Keyed by status code as a string; connections dropped by a fault count under `dropped`. */
  byStatus: Record<string, number>;
  /** 429 responses, whether from the rate limiter or an injected fault. */
  rateLimited: number;
  /** Requests per accepted token (unauthenticated requests are only in `byStatus['401']`). */
  byToken: Record<string, number>;
  /** Requests answered (or delayed) by an injected fault. */
  faultsApplied: number;
}

/** One DigitalOcean-facing request, as it arrived. */
export interface LoggedRequest {
  /** Wall-clock ms at which it arrived (not the simulator's own clock, which a test may move). */
  arrivedAt: number;
  route: string;
  status: number | 'dropped';
}

/** The request log keeps this many of the latest requests. */
const LOG_LIMIT = 10_000;

export class StatsRecorder {
  private log: LoggedRequest[] = [];
  private total = 0;
  private routes = new Map<string, number>();
  private statuses = new Map<string, number>();
  private tokens = new Map<string, number>();
  private limited = 0;
  private faults = 0;

  record(route: string, status: number | 'dropped', token: string | undefined, arrivedAt = Date.now()): void {
    this.log.push({ arrivedAt, route, status });
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    this.total++;
    bump(this.routes, route);
    bump(this.statuses, String(status));
    if (token !== undefined) bump(this.tokens, token);
    if (status === 429) this.limited++;
  }

  fault(): void {
    this.faults++;
  }

  snapshot(): SimulatorStats {
    return {
      totalRequests: this.total,
      requests: this.total,
      byRoute: Object.fromEntries(this.routes),
      byStatus: Object.fromEntries(this.statuses),
      rateLimited: this.limited,
      byToken: Object.fromEntries(this.tokens),
      faultsApplied: this.faults,
    };
  }

  /** The latest requests, oldest first: what tests read to tell when something was asked. */
  requests(): LoggedRequest[] {
    return [...this.log];
  }

  reset(): void {
    this.log = [];
    this.total = 0;
    this.limited = 0;
    this.faults = 0;
    this.routes.clear();
    this.statuses.clear();
    this.tokens.clear();
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
