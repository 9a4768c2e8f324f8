import type { Command } from 'commander';
import { InputError } from '../../errors/input-error.js';
import { parseResourceId } from '../../runs/run-request.js';
import { parseResourceKind } from '../../watches/watch-ref.js';
import { printJson, withRuntime } from '../context.js';
import { type OutputFormat, outputOption, RecordPrinter } from '../output.js';
import { ACTION_COLUMNS } from '../tables.js';
import { settingsFromFlags } from '../watch-input.js';

export function registerActions(program: Command): void {
  program
    .command('actions')
    .description(
      'print every action of a droplet or image as JSON Lines (all pages, as DigitalOcean lists them)',
    )
    .argument('<kind>', 'droplet or image')
    .argument('<resourceId>', 'the droplet or image id')
    .addOption(outputOption())
    .action(async (kind: string, resourceId: string, options: { output: OutputFormat }) => {
      const validKind = parseResourceKind(kind);
      const id = parseResourceId(resourceId, 'resourceId');
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
    throw new InputError('usage: actionwatch watch <droplet|image> <resourceId> --in-progress (no actionId)');
  const validKind = parseResourceKind(kind);
  const id = parseResourceId(resourceId, 'resourceId');
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
