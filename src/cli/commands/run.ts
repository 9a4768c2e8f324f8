import type { Command } from 'commander';
import { parseDuration } from '../../config/duration.js';
import { isRunKind } from '../../digitalocean/models.js';
import { ActionRejectedError } from '../../errors/action-rejected-error.js';
import { InputError } from '../../errors/input-error.js';
import { coerceActionParam } from '../../runs/action-params.js';
import { DROPLET_ACTION_TYPES, isDropletActionType } from '../../runs/droplet-actions.js';
import { ADDRESS_ACTIONS, actionTableOf, VOLUME_ACTIONS } from '../../runs/resource-actions.js';
import { parseRunKey, parseRunRequest, type RunRequest } from '../../runs/run-request.js';
import { EXIT } from '../cli-error.js';
import { printJson } from '../context.js';
import { settingsFromFlags } from '../watch-input.js';
import { CREATE_ONLY_FLAGS, type CreateFlags, runDropletCreate } from './run-droplet-create.js';
import { runDropletDelete } from './run-droplet-delete.js';
import { inRunSession, waitForRun } from './run-session.js';
import { collect } from './watch.js';

/** Every flag of `run`: CreateFlags names them all (a create's own and the shared ones). */
type RunCommandOptions = CreateFlags;

const DEFAULT_RETRY_PENDING = '15m';

/**
 * The request as the library takes it, from `run <kind> <resourceId> <type> [--region] [--param k=v]`.
 * Each param is typed as its kind's action takes it (numbers for ids, true/false, JSON objects).
 */
export function runRequestFromArgs(
  kind: string,
  resourceId: string,
  type: string,
  options: Pick<RunCommandOptions, 'region' | 'param'>,
): RunRequest {
  const table = isRunKind(kind) && kind !== 'image' ? actionTableOf(kind) : undefined;
  const params: Record<string, unknown> = {};
  for (const entry of options.param ?? []) {
    const equals = entry.indexOf('=');
    if (equals <= 0) throw new InputError(`--param must look like name=value (got ${JSON.stringify(entry)})`);
    const name = entry.slice(0, equals).trim();
    const text = entry.slice(equals + 1);
    params[name] = table === undefined ? text : coerceActionParam(table, type, name, text);
  }
  if (kind === 'image' && Object.keys(params).length > 0)
    throw new InputError('--param is for droplet actions; an image transfer takes --region');
  if (kind === 'droplet' && options.region !== undefined)
    throw new InputError('--region is for image transfers; droplet actions take --param');
  if (kind !== 'image' && table !== undefined && options.region !== undefined)
    throw new InputError(
      `--region is for image transfers; ${kind} actions take --param (e.g. --param region=nyc1)`,
    );
  const input = {
    kind,
    resourceId,
    type,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(kind !== 'image' && Object.keys(params).length > 0 ? { params } : {}),
  };
  const spec = parseRunRequest(input, 'run');
  if (spec.kind === 'image') {
    return spec.body.type === 'transfer'
      ? { kind: 'image', resourceId: spec.resourceId, type: 'transfer', region: spec.body.region }
      : { kind: 'image', resourceId: spec.resourceId, type: 'convert' };
  }
  const withParams = Object.keys(params).length === 0 ? {} : { params };
  if (spec.kind !== 'droplet') return { kind: spec.kind, resourceId: spec.resourceId, type, ...withParams };
  // parseRunRequest has refused any other type; this only tells the compiler.
  if (!isDropletActionType(type)) throw new InputError(`unknown droplet action type ${type}`);
  return { kind: 'droplet', resourceId: spec.resourceId, type, ...withParams };
}

function retryPendingMs(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  const text = value === true ? DEFAULT_RETRY_PENDING : value;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new InputError(`--retry-pending takes a duration such as 10m (got ${JSON.stringify(text)})`);
  return ms;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'start a droplet, image, volume or reserved/floating IP action and watch it; prints {started, recovered, action, watch}; `run droplet create` creates droplets, `run droplet delete <id>` deletes one',
    )
    .argument('<kind>', 'droplet, image, volume, reserved_ip, floating_ip or reserved_ipv6')
    .argument(
      '<resourceId>',
      'the droplet or image id, the volume UUID, or the IP address; or `create` (run droplet create --name …) or `delete` (run droplet delete <dropletId>)',
    )
    .argument(
      '[type]',
      `image: transfer, convert; droplet: ${DROPLET_ACTION_TYPES.join(', ')}; volume: ${Object.keys(VOLUME_ACTIONS).join(', ')}; reserved_ip, floating_ip, reserved_ipv6: ${Object.keys(ADDRESS_ACTIONS).join(', ')}`,
    )
    .option('--region <slug>', 'image transfer: the region to transfer the image to; create: the region')
    .option(
      '--param <name=value>',
      'an action parameter, e.g. name=web-42 (droplet snapshot), droplet_id=42 (volume attach, IP assign) (repeatable)',
      collect,
    )
    .option('--name <name>', 'create: a droplet name (repeatable: up to 10 droplets in one request)', collect)
    .option('--size <slug>', 'create: the size slug, e.g. s-1vcpu-1gb')
    .option('--image <id|slug>', 'create: the image id or slug, e.g. ubuntu-24-04-x64')
    .option('--ssh-key <id|fingerprint>', 'create: an SSH key to embed (repeatable)', collect)
    .option('--tag <tag>', 'create: a tag for the droplets (repeatable)', collect)
    .option('--user-data-file <path>', 'create: cloud-init or a script (at most 64 KiB)')
    .option('--key <key>', 'idempotency key: runs with the same key start one action, whoever runs them')
    .option(
      '--retry-pending [duration]',
      `when the resource is busy (422 pending event), retry with backoff for up to duration (default ${DEFAULT_RETRY_PENDING})`,
    )
    .option('--wait', 'block until the action ends, print the final action JSON (exit codes as wait)')
    .option(
      '--timeout <duration>',
      'the watch gives up after this long (timed_out); default WATCH_TIMEOUT (6h)',
    )
    .option('--webhook <url>', 'also POST the outcome to URL (repeatable)', collect)
    .option('--on <outcomes>', 'with --webhook: only these outcomes')
    .option('--with-worker', 'run a worker in this process too (for when none is running)')
    .option(
      '--token-profile <name>',
      'start and watch with the token in DIGITALOCEAN_TOKEN_<NAME> (its own budget, queue and --key space) instead of DIGITALOCEAN_TOKEN',
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  actionwatch run image 7 transfer --region ams3 --key release-42-ams3 --wait',
        '  actionwatch run droplet 42 snapshot --param name=web-release-42 --retry-pending 10m',
        '  actionwatch run droplet 42 resize --param size=s-2vcpu-4gb --param disk=true',
        '  actionwatch run droplet 42 reboot --token-profile team_b --wait',
        '  actionwatch run volume 7724db7c-e098-11e5-b522-000f53304e51 attach --param droplet_id=42 --param region=nyc1',
        '  actionwatch run volume 7724db7c-e098-11e5-b522-000f53304e51 resize --param size_gigabytes=100',
        '  actionwatch run reserved_ip 203.0.113.7 assign --param droplet_id=42 --key move-ip-42 --wait',
        '  actionwatch run reserved_ip 203.0.113.7 unassign',
        '  actionwatch run droplet create --name web-1 --name web-2 --region nyc3 --size s-1vcpu-1gb \\',
        '      --image ubuntu-24-04-x64 --ssh-key 289794 --key release-42-web --wait',
        '  actionwatch run droplet delete 3164444 --key retire-web-41 --wait',
        '',
        'Params: volume attach/detach take droplet_id (and region), resize size_gigabytes (and region);',
        'an IP assign takes droplet_id, unassign nothing.',
        '',
        'run droplet create prints one line per droplet: {started, recovered, key, tag, dropletId, name,',
        'actionId, watch}; with --wait, each final create action, exiting as wait does for the first',
        'droplet whose create did not complete. Every droplet of a create carries the tag',
        'actionwatch:<hash of --key>, by which a create whose answer was lost is found, never sent again.',
        '',
        'run droplet delete sends DELETE /v2/droplets/{id} (once per --key) and prints {started, recovered,',
        'alreadyGone, watch}: its watch droplet-<id>-deleted (actionId null, awaits deletion) ends completed',
        'once GET /v2/droplets/{id} answers 404. A droplet already gone is said so on stderr and completes.',
        'With --wait it prints the outcome action (null) and exits as wait does.',
        '',
        'With --wait, exit codes: 0 completed, 2 errored, 3 not_found, 4 timed_out, 5 cancelled,',
        '1 bad input, refused by DigitalOcean (422) or other failure, 130 interrupted;',
        '6 (with or without --wait): probably started, but DigitalOcean did not say which action it is.',
      ].join('\n'),
    )
    .action(
      async (kind: string, resourceId: string, type: string | undefined, options: RunCommandOptions) => {
        if (kind === 'droplet' && resourceId === 'create') {
          if (type !== undefined)
            throw new InputError(
              `run droplet create takes flags, not ${JSON.stringify(type)}: --name, --region, …`,
            );
          return runDropletCreate(options);
        }
        if (kind === 'droplet' && resourceId === 'delete') return runDropletDelete(type, options);
        if (type === undefined)
          throw new InputError(`run needs the action type: run ${kind} ${resourceId} <type>`);
        for (const [flag, name] of CREATE_ONLY_FLAGS)
          if (options[flag] !== undefined) throw new InputError(`${name} is for run droplet create`);
        // Everything the user typed is checked before Redis or DigitalOcean is touched.
        const request = runRequestFromArgs(kind, resourceId, type, options);
        const key = parseRunKey(options.key);
        const retryPending = retryPendingMs(options.retryPending);
        const { timeoutMs, webhooks, tokenProfile } = await settingsFromFlags(options);

        await inRunSession(options, tokenProfile, async (session) => {
          const result = await session.watcher
            .run(request, {
              signal: session.signal,
              ...(key === undefined ? {} : { key }),
              ...(retryPending === undefined ? {} : { retryPending }),
              ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
              ...(webhooks === undefined ? {} : { webhooks }),
              ...(tokenProfile === undefined ? {} : { tokenProfile }),
            })
            .catch((error: unknown) => {
              if (error instanceof ActionRejectedError && error.pending && retryPending === undefined)
                throw new ActionRejectedError(
                  `${error.message}; pass --retry-pending to retry until it is free`,
                  error.details,
                );
              throw error;
            });
          if (!options.wait) {
            printJson({
              started: result.started,
              recovered: result.recovered,
              action: result.action,
              watch: result.watch,
            });
            return EXIT.ok;
          }
          return waitForRun(session, [result.watch], options, tokenProfile);
        });
      },
    );
}
