import type { Command } from 'commander';
import { InputError } from '../../errors/input-error.js';
import { validateTargetUrl } from '../../notifications/webhooks/target-url.js';
import type { WatchRequest } from '../../watches/watch-queue.js';
import { parseActionRef } from '../../watches/watch-ref.js';
import { printJson, withRuntime } from '../context.js';
import { assertWebhooksAllowed, readWatchFile, settingsFromFlags } from '../watch-input.js';

interface WatchCommandOptions {
  timeout?: string;
  fromFile?: string;
  webhook?: string[];
  on?: string;
  tokenProfile?: string;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export async function requestsFromArgs(
  args: Array<string | undefined>,
  options: WatchCommandOptions,
  usage: string,
): Promise<WatchRequest[]> {
  const given = args.filter((arg): arg is string => arg !== undefined);
  if (options.fromFile !== undefined) {
    if (given.length > 0)
      throw new InputError('give either <kind> <resourceId> <actionId> or --from-file, not both');
    // --token-profile is the default of lines that name no tokenProfile of their own.
    const { tokenProfile } = await settingsFromFlags({ tokenProfile: options.tokenProfile });
    return readWatchFile(options.fromFile, validateTargetUrl, tokenProfile);
  }
  if (given.length !== 3) throw new InputError(`usage: ${usage}`);
  const [kind, resourceId, actionId] = given;
  const ref = parseActionRef(kind, resourceId, actionId);
  return [{ ...ref, ...(await settingsFromFlags(options)) }];
}

export function registerWatch(program: Command): void {
  const usage = 'actionwatch watch <droplet|image> <resourceId> <actionId> [--timeout 6h] | --from-file FILE';
  program
    .command('watch')
    .description('start watching actions (or join existing watches); prints each watch as JSON')
    .argument('[kind]', 'droplet or image')
    .argument('[resourceId]', 'the droplet or image id')
    .argument('[actionId]', 'the action id')
    .option('--timeout <duration>', 'give up after this long (ends as timed_out); default WATCH_TIMEOUT (6h)')
    .option(
      '--from-file <file>',
      'JSON Lines of {"kind","resourceId","actionId"}; - for stdin; all or nothing',
    )
    .option('--webhook <url>', 'also POST this watch’s outcome to URL (repeatable)', collect)
    .option('--on <outcomes>', 'with --webhook: only these outcomes, e.g. completed,errored')
    .option(
      '--token-profile <name>',
      'observe with the token in DIGITALOCEAN_TOKEN_<NAME> (its own budget and queue) instead of DIGITALOCEAN_TOKEN',
    )
    .option(
      '--in-progress',
      'with <kind> <resourceId> only: list its actions (all pages) and watch every one still in progress',
    )
    .action(
      async (
        kind: string | undefined,
        resourceId: string | undefined,
        actionId: string | undefined,
        options: WatchCommandOptions & { inProgress?: boolean },
      ) => {
        if (options.inProgress) {
          const { watchInProgressFromArgs } = await import('./actions.js');
          await watchInProgressFromArgs([kind, resourceId, actionId], options);
          return;
        }
        const requests = await requestsFromArgs([kind, resourceId, actionId], options, usage);
        await withRuntime({}, async (runtime) => {
          await assertWebhooksAllowed(requests, runtime.config.webhooks.allowPrivate);
          const results = await runtime.watches.watchMany(requests);
          for (const { watch } of results) printJson(watch);
        });
      },
    );
}
