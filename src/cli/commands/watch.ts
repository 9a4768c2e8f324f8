import type { Command } from 'commander';
import { WATCH_KINDS } from '../../digitalocean/models.js';
import { InputError } from '../../errors/input-error.js';
import { validateTargetUrl } from '../../notifications/webhooks/target-url.js';
import type { Runtime } from '../../runtime.js';
import type { WatchRequest } from '../../watches/watch-queue.js';
import { parseActionRef, parseDeletionRef, parseTokenProfile } from '../../watches/watch-ref.js';
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
  // `watch action <actionId>`: no resource; the caller looks the action up (resolveActionRequests).
  const byId = given[0] === 'action';
  if (given.length !== (byId ? 2 : 3)) throw new InputError(`usage: ${usage}`);
  const [kind, resourceId, actionId] = byId ? [given[0], undefined, given[1]] : given;
  // `watch droplet <id> deleted`: the deletion watch (`droplet-<id>-deleted`), without a DELETE.
  const ref =
    kind === 'droplet' && actionId === 'deleted'
      ? parseDeletionRef(resourceId, 'resourceId')
      : parseActionRef(kind, resourceId, actionId);
  return [{ ...ref, ...(await settingsFromFlags(options)) }];
}

/**
 * `watch action <actionId>` and `wait action <actionId>`: each such request is looked up once
 * (GET /v2/actions/{id}, with the request's token profile) and watched as the kind its
 * `resource_type` names, or as kind `action` (see refOfAction). Other requests are left as given.
 */
export async function resolveActionRequests(
  runtime: Runtime,
  requests: WatchRequest[],
): Promise<WatchRequest[]> {
  const { resolveAction } = await import('../../runs/discover.js');
  return Promise.all(
    requests.map(async (request) => {
      if (request.kind !== 'action') return request;
      const client = runtime.client({ tokenProfile: request.tokenProfile });
      return { ...request, ...(await resolveAction(client, request.actionId)) };
    }),
  );
}

/** With `action <actionId>` the CLI reads the action itself, so it needs the token. */
export function tokenNeededFor(kind: string | undefined, tokenProfile: string | undefined, command: string) {
  if (kind !== 'action') return {};
  return {
    needsToken: true,
    tokenPurpose: `${command} action <actionId> looks the action up with it to learn its kind`,
    ...(tokenProfile === undefined ? {} : { tokenProfile: parseTokenProfile(tokenProfile) }),
  };
}

export const WATCH_KIND_HELP = `${WATCH_KINDS.filter((kind) => kind !== 'action').join(', ')}, or action (then only <actionId>)`;

export function registerWatch(program: Command): void {
  const usage =
    'actionwatch watch <kind> <resourceId> <actionId> | watch action <actionId> [--timeout 6h] | --from-file FILE';
  program
    .command('watch')
    .description('start watching actions (or join existing watches); prints each watch as JSON')
    .argument('[kind]', WATCH_KIND_HELP)
    .argument('[resourceId]', 'the droplet or image id, volume or NFS share UUID, or IP address')
    .argument('[actionId]', 'the action id, or `deleted` (droplet only): wait until the droplet is gone')
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
        const given = await requestsFromArgs([kind, resourceId, actionId], options, usage);
        const token =
          options.fromFile === undefined ? tokenNeededFor(kind, options.tokenProfile, 'watch') : {};
        await withRuntime(token, async (runtime) => {
          const requests =
            options.fromFile === undefined ? await resolveActionRequests(runtime, given) : given;
          await assertWebhooksAllowed(requests, runtime.config.webhooks.allowPrivate);
          const results = await runtime.watches.watchMany(requests);
          for (const { watch } of results) printJson(watch);
        });
      },
    );
}
