import { mean, percentile } from '../support/statistics.js';
import type { Detection, LatencyResult, LatencySettings } from './latency-phase.js';

export interface LatencyBucket {
  /** Real-time age range at completion, e.g. `20 s – 1 min`. */
  label: string;
  actions: number;
  /** Median unjittered poll interval at completion, compressed time. */
  intervalMs: number;
  p50Ms: number;
  p95Ms: number;
  withinShare: number;
}

export interface LatencySummary {
  actions: number;
  p50Ms: number;
  p95Ms: number;
  /** p95 of latency minus the poll interval at the action's age: the target wants it ≤ slack. */
  excessP95Ms: number;
  excessMaxMs: number;
  /** Share of actions detected within their own interval + slack. */
  withinShare: number;
  requestsPerAction: number;
  pollsPerWatch: number;
  unexpectedOutcomes: number;
  missing: number;
  buckets: LatencyBucket[];
}

/** Age buckets in real (uncompressed) seconds: the minimum-interval stretch, then the ramp. */
const BUCKETS: Array<{ label: string; upToS: number }> = [
  { label: 'under 20 s', upToS: 20 },
  { label: '20 s – 1 min', upToS: 60 },
  { label: '1 – 2 min', upToS: 120 },
  { label: '2 min and over', upToS: Number.POSITIVE_INFINITY },
];

function within(detection: Detection, slackMs: number): boolean {
  return detection.latencyMs <= detection.intervalMs + slackMs;
}

export function summarizeLatency(result: LatencyResult, settings: LatencySettings): LatencySummary {
  const { detections } = result;
  const excess = detections.map((detection) => detection.latencyMs - detection.intervalMs);
  const buckets: LatencyBucket[] = [];
  let lowerS = 0;
  for (const bucket of BUCKETS) {
    const members = detections.filter((detection) => {
      const realAgeS = (detection.ageMs * settings.timeScale) / 1000;
      return realAgeS >= lowerS && realAgeS < bucket.upToS;
    });
    lowerS = bucket.upToS;
    if (members.length === 0) continue;
    const latencies = members.map((detection) => detection.latencyMs);
    buckets.push({
      label: bucket.label,
      actions: members.length,
      intervalMs: percentile(
        members.map((detection) => detection.intervalMs),
        50,
      ),
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      withinShare: members.filter((detection) => within(detection, settings.slackMs)).length / members.length,
    });
  }
  const latencies = detections.map((detection) => detection.latencyMs);
  return {
    actions: settings.actions,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    excessP95Ms: percentile(excess, 95),
    excessMaxMs: Math.max(...excess),
    withinShare:
      detections.filter((detection) => within(detection, settings.slackMs)).length /
      Math.max(1, settings.actions),
    requestsPerAction: result.apiRequests / settings.actions,
    pollsPerWatch: mean(detections.map((detection) => detection.polls)),
    unexpectedOutcomes: detections.filter((detection) => !detection.outcomeAsExpected).length,
    missing: result.missing,
    buckets,
  };
}
