import type { Command } from 'commander';
import { InputError } from '../../errors/input-error.js';
import { printJson, withRuntime } from '../context.js';
import { requireWatchId } from '../parsers.js';

export function registerCancel(program: Command): void {
  program
    .command('cancel')
    .description('cancel a waiting watch (its outcome is cancelled); prints the watch')
    .argument('<watchId>', 'e.g. droplet-3164444-36804636')
    .action(async (watchId: string) => {
      requireWatchId(watchId);
      await withRuntime({}, async (runtime) => {
        const watch = await runtime.watches.cancel(watchId);
        if (watch === undefined) throw new InputError(`no watch with id ${watchId}`);
        printJson(watch);
      });
    });
}
