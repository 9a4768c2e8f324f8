import type { Command } from 'commander';
import { InputError } from '../../errors/input-error.js';
import { parseListedResource } from '../../watches/watch-ref.js';
import { printJson, withRuntime } from '../context.js';
import { type OutputFormat, outputOption, RecordPrinter } from '../output.js';
import { ACTION_COLUMNS } from '../tables.js';
import { settingsFromFlags } from '../watch-input.js';

export function registerActions(program: Command): void {
  program
    .command('actions')
    .description(
      'print every action of a droplet, image, volume, reserved or floating IP as JSON Lines (all pages, as DigitalOcean lists them)',
    )
    .argument('<kind>', 'droplet, image, volume, reserved_ip or floating_ip')
    .argument('<resourceId>', 'the droplet or image id, volume UUID, or IPv4 address')
    .addOption(outputOption())
    .action(async (kind: string, resourceId: string, options: { output: OutputFormat }) => {
      const [validKind, id] = parseListedResource(kind, resourceId);
      const tokenPurpose = 'actions needs it to list actions';
      await withRuntime({ needsToken: true, tokenPurpose }, async (runtime) => {
        const { ActionWatcher } = await import('../../library/action-watcher.js');
        const printer = new RecordPrinter(options.output, ACTION_COLUMNS);
        for await (const action of ActionWatcher.fromRuntime(runtime).actions(validKind, id))
          printer.add(action);
        printer.end();
      });
    });
}

export interface InProgressOptions {
  timeout?: string;
  fromFile?: string;
  webhook?: string[];
  on?: string;
  tokenProfile?: string;
}

/**
 * `watch <kind> <resourceId> --in-progress`: lists the resource's actions through every page and
 * watches each one still in progress; prints each watch as JSON.
 */
export async function watchInProgressFromArgs(
  args: Array<string | undefined>,
  options: InProgressOptions,
): Promise<void> {
  const [kind, resourceId, actionId] = args;
  if (options.fromFile !== undefined || actionId !== undefined || resourceId === undefined)
    throw new InputError('usage: actionwatch watch <kind> <resourceId> --in-progress (no actionId)');
  const [validKind, id] = parseListedResource(kind, resourceId);
  const { timeoutMs, webhooks, tokenProfile } = await settingsFromFlags(options);
  // Listing the resource's actions is a request with that profile's token.
  const tokenOptions = {
    tokenPurpose: `watch --in-progress lists actions with it${tokenProfile === undefined ? '' : ` for token profile ${tokenProfile}`}`,
    ...(tokenProfile === undefined ? {} : { tokenProfile }),
  };
  await withRuntime({ needsToken: true, ...tokenOptions }, async (runtime) => {
    const { ActionWatcher } = await import('../../library/action-watcher.js');
    const watches = await ActionWatcher.fromRuntime(runtime).watchInProgress(validKind, id, {
      ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
      ...(webhooks === undefined ? {} : { webhooks }),
      ...(tokenProfile === undefined ? {} : { tokenProfile }),
    });
    for (const watch of watches) printJson(watch);
    runtime.logger.info(
      { kind: validKind, resourceId: id, watched: watches.length },
      `${watches.length} action(s) of ${validKind} ${id} in progress, now watched`,
    );
  });
}
