const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

export interface PaceInput {
  /** The shared budget's windows, limits already less the headroom kept for others. */
  minute: { used: number; limit: number };
  hour: { used: number; limit: number };
  /** How long the watched actions in progress are expected to need looks (at most an hour counts). */
  horizonMs: number;
  /** Requests a minute the sweeper would use if nothing held it back (every watched page each round). */
  demandPerMinute: number;
  /** Requests that may go at once on top of the rate (the allowance's burst), kept out of the projection. */
  reserve?: number;
}

export interface Pace {
  /** `burst`: the minute's allowance is spent as needed; `hourly`: paced so the hour lasts. */
  mode: 'burst' | 'hourly';
  /** Requests a minute the sweeper may spend now. */
  perMinute: number;
  /** Requests the sliding hour would hold at the end of the horizon, spending the demand at burst pace. */
  projectedHourUse: number;
}

/**
 * How fast the sweeper may spend. DigitalOcean's hour slides, so what a burst spends comes back
 * only an hour later; but a burst that ends before the hour runs out costs nothing later. So:
 * project the sliding hour's use if the demand were met at up to the minute's allowance for as long
 * as the watched actions need looks; while that stays within the hourly limit, spend at the minute's
 * pace. Otherwise pace to the steady hourly rate (less the burst the allowance may hold), which can
 * go on for ever. The minute window itself is enforced by the budget and the allowance's hard
 * limits, so this never leads to a 429.
 */
export function projectPace(input: PaceInput): Pace {
  const horizonMinutes = Math.max(0, Math.min(input.horizonMs, HOUR_MS)) / MINUTE_MS;
  const burstRate = Math.max(0, Math.min(input.minute.limit, input.demandPerMinute));
  const reserve = input.reserve ?? 0;
  const projectedHourUse = input.hour.used + reserve + burstRate * horizonMinutes;
  if (projectedHourUse <= input.hour.limit) {
    return { mode: 'burst', perMinute: input.minute.limit, projectedHourUse };
  }
  // Requests older than an hour expire and come back: the steady hourly rate can go on for ever.
  const steady = Math.max(input.hour.limit - reserve, input.hour.limit / 2) / 60;
  return { mode: 'hourly', perMinute: Math.min(input.minute.limit, steady), projectedHourUse };
}

/**
 * The best detection the budget allows now: every page holding watched actions in progress (and
 * every watch only its own GET can see) read once, at the rate the budget allows. No schedule of
 * reads can see every ended action sooner than one full pass at that rate.
 */
export function detectionBoundMs(requestsPerPass: number, perMinute: number): number {
  if (requestsPerPass <= 0) return 0;
  if (!(perMinute > 0)) return Number.POSITIVE_INFINITY;
  return (requestsPerPass / perMinute) * MINUTE_MS;
}
