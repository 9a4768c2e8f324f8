import { type Command, Option } from 'commander';
import { parseChainId } from '../../chains/chain-keys.js';
import { InputError } from '../../errors/input-error.js';
import { printJson, withRuntime } from '../context.js';
import { type OutputFormat, outputOption, RecordPrinter } from '../output.js';
import { CHAIN_COLUMNS } from '../tables.js';

export function registerChains(program: Command): void {
  const chains = program.command('chains').description('list, show and cancel chains');

  chains
    .command('list')
    .description('print chains as JSON Lines, newest first')
    .addOption(
      new Option('--state <state>', 'which chains').choices(['running', 'done', 'all']).default('all'),
    )
    .addOption(outputOption())
    .action(async (options: { state: 'running' | 'done' | 'all'; output: OutputFormat }) => {
      await withRuntime({}, async (runtime) => {
        const printer = new RecordPrinter(options.output, CHAIN_COLUMNS);
        for await (const chain of runtime.chains().list(options.state)) printer.add(chain);
        printer.end();
      });
    });

  chains
    .command('show')
    .description('print one chain: every step, its actions, their outcomes and image ids')
    .argument('<chainId>', 'e.g. chain-release-42')
    .action(async (chainId: string) => {
      const id = parseChainId(chainId);
      await withRuntime({}, async (runtime) => {
        const chain = await runtime.chains().get(id);
        if (chain === undefined) throw new InputError(`no chain with id ${id}`);
        printJson(chain);
      });
    });

  chains
    .command('cancel')
    .description('stop a chain before its next step (outcome cancelled); actions already started go on')
    .argument('<chainId>', 'e.g. chain-release-42')
    .action(async (chainId: string) => {
      const id = parseChainId(chainId);
      await withRuntime({}, async (runtime) => {
        const chain = await runtime.chains().cancel(id);
        if (chain === undefined) throw new InputError(`no chain with id ${id}`);
        printJson(chain);
      });
    });
}
