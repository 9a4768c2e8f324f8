import { type Command, Option } from 'commander';
import { WATCH_KINDS, type WatchKind } from '../../digitalocean/models.js';
import type { WatchStateFilter } from '../../watches/watch-queue.js';
import { withRuntime } from '../context.js';
import { type OutputFormat, outputOption, RecordPrinter } from '../output.js';
import { WATCH_COLUMNS } from '../tables.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('print watches as JSON Lines')
    .addOption(
      new Option('--state <state>', 'which watches').choices(['waiting', 'done', 'all']).default('all'),
    )
    .addOption(new Option('--kind <kind>', 'only watches of this kind').choices([...WATCH_KINDS]))
    .addOption(outputOption())
    .action(async (options: { state: WatchStateFilter; kind?: WatchKind; output: OutputFormat }) => {
      await withRuntime({}, async (runtime) => {
        const printer = new RecordPrinter(options.output, WATCH_COLUMNS);
        let cursor: string | undefined;
        do {
          const page = await runtime.watches.list({
            state: options.state,
            limit: 500,
            ...(options.kind === undefined ? {} : { kind: options.kind }),
            ...(cursor === undefined ? {} : { cursor }),
          });
          for (const watch of page.watches) printer.add(watch);
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        printer.end();
      });
    });
}
