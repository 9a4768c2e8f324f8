import type { Command } from 'commander';
import type { Config } from '../../config/config.js';
import { InputError } from '../../errors/input-error.js';
import { configuredTargets, type WebhookTarget } from '../../notifications/webhooks/webhook-targets.js';
import type { Watch, WatchWebhook } from '../../watches/watch.js';
import { printJson, withRuntime } from '../context.js';
import { formatFields, type OutputFormat, outputOption } from '../output.js';
import { requireWatchId } from '../parsers.js';

/**
 * A webhook target as `show` names it: where it comes from and the origin it is sent to. The path
 * and query are left out because webhook URLs often carry a capability token there (Slack's do).
 */
export interface ShownWebhook {
  source: WebhookTarget['source'];
  origin: string;
  on: string[] | 'all';
}

export interface ShownWatch extends Watch {
  webhooks: ShownWebhook[];
}

function shownWebhooks(config: Config, own: readonly WatchWebhook[]): ShownWebhook[] {
  const targets = [
    ...configuredTargets(config.webhooks),
    ...own.map((webhook) => ({ url: webhook.url, source: 'watch' as const, on: webhook.on })),
  ];
  return targets.map((target) => ({
    source: target.source,
    origin: new URL(target.url).origin,
    on: target.on === undefined ? 'all' : [...target.on],
  }));
}

function etaField(watch: Watch): string | null {
  if (watch.eta !== null) return `${watch.eta} (${watch.etaBasis})`;
  return watch.etaBasis === 'outlived' ? 'unknown: running longer than any learned' : null;
}

function showTable(watch: ShownWatch): string {
  const { action } = watch;
  return formatFields([
    ['id', watch.id],
    ['state', watch.state],
    ['outcome', watch.outcome],
    ['reason', watch.reason],
    ['action', action === null ? null : `${action.id} ${action.type ?? ''} ${action.status}`],
    ['polls', watch.polls],
    ['enqueued', watch.enqueuedAt],
    ['finished', watch.finishedAt],
    ['deadline', watch.deadlineAt],
    ['eta', etaField(watch)],
    ['last error', watch.lastError],
    ['token profile', watch.tokenProfile],
    ...watch.webhooks.map(
      (webhook) =>
        [
          'webhook',
          `${webhook.origin} (${webhook.source}; on ${webhook.on === 'all' ? 'all' : webhook.on.join(',')})`,
        ] as const,
    ),
  ]);
}

export function registerShow(program: Command): void {
  program
    .command('show')
    .description(
      'print one watch: its state, last action, outcome once ended, and webhook targets (origins only)',
    )
    .argument('<watchId>', 'e.g. droplet-3164444-36804636')
    .addOption(outputOption())
    .action(async (watchId: string, options: { output: OutputFormat }) => {
      requireWatchId(watchId);
      await withRuntime({}, async (runtime) => {
        const [watch, own] = await Promise.all([
          runtime.watches.get(watchId),
          runtime.watches.webhooksOf(watchId),
        ]);
        if (watch === undefined) throw new InputError(`no watch with id ${watchId}`);
        const shown: ShownWatch = { ...watch, webhooks: shownWebhooks(runtime.config, own) };
        if (options.output === 'table') process.stdout.write(showTable(shown));
        else printJson(shown);
      });
    });
}
