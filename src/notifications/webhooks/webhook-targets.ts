import type { Outcome, OutcomeRecord, WatchWebhook } from '../../watches/watch.js';

export type WebhookFormat = 'json' | 'slack';

/** Where a target came from: `watch` targets are the only ones a 410 Gone may disable. */
export type TargetSource = 'global' | 'alert' | 'watch';

export interface WebhookTarget {
  url: string;
  format: WebhookFormat;
  source: TargetSource;
  /** Outcomes this target wants; every outcome when undefined. */
  on: readonly Outcome[] | undefined;
}

/** What the alert target receives unless told otherwise: the outcomes a person must look at. */
export const ALERT_OUTCOMES: readonly Outcome[] = ['errored', 'timed_out', 'not_found'];

export interface ConfiguredTargets {
  /** WEBHOOK_URL: every outcome. */
  url?: string | undefined;
  urlOn?: readonly Outcome[] | undefined;
  /** ALERT_WEBHOOK_URL: the alert outcomes. */
  alertUrl?: string | undefined;
  alertOn?: readonly Outcome[] | undefined;
  alertFormat?: WebhookFormat;
}

/** The process-wide targets (from configuration), in the order they are delivered. */
export function configuredTargets(config: ConfiguredTargets): WebhookTarget[] {
  const targets: WebhookTarget[] = [];
  if (config.url !== undefined) {
    targets.push({ url: config.url, format: 'json', source: 'global', on: config.urlOn });
  }
  if (config.alertUrl !== undefined) {
    targets.push({
      url: config.alertUrl,
      format: config.alertFormat ?? 'json',
      source: 'alert',
      on: config.alertOn ?? ALERT_OUTCOMES,
    });
  }
  return targets;
}

/**
 * The targets one outcome goes to: the configured ones and the watch's own, each filtered by the
 * outcomes it wants. A URL named twice in one format receives the message once.
 */
export function targetsFor(record: OutcomeRecord, configured: readonly WebhookTarget[]): WebhookTarget[] {
  return targetsForOutcome(record.outcome, record.webhooks, configured);
}

/** targetsFor, for any outcome and its own targets (a chain's outcome and its plan's webhooks). */
export function targetsForOutcome(
  outcome: Outcome,
  webhooks: readonly WatchWebhook[] | undefined,
  configured: readonly WebhookTarget[],
): WebhookTarget[] {
  const own: WebhookTarget[] = (webhooks ?? []).map((webhook) => ({
    url: webhook.url,
    format: 'json',
    source: 'watch',
    on: webhook.on,
  }));
  const seen = new Set<string>();
  return [...configured, ...own].filter((target) => {
    if (target.on !== undefined && !target.on.includes(outcome)) return false;
    const key = `${target.format} ${target.url}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
