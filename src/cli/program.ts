import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerActions } from './commands/actions.js';
import { registerCancel } from './commands/cancel.js';
import { registerChain } from './commands/chain.js';
import { registerChains } from './commands/chains.js';
import { registerCompletion } from './commands/completion.js';
import { registerDemo } from './commands/demo.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEvents } from './commands/events.js';
import { registerList } from './commands/list.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';
import { registerShow } from './commands/show.js';
import { registerSim } from './commands/sim.js';
import { registerWait } from './commands/wait.js';
import { registerWatch } from './commands/watch.js';
import { registerWebhooks } from './commands/webhooks.js';
import { registerWorker } from './commands/worker.js';
import { addGlobalOptions } from './global-options.js';

export function buildProgram(): Command {
  const program = new Command('actionwatch')
    .description(
      'Wait on DigitalOcean droplet and image actions: durable, fleet-wide, one shared rate budget.',
    )
    .version(VERSION)
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false });
  addGlobalOptions(program);
  registerWorker(program);
  registerServe(program);
  registerWatch(program);
  registerWait(program);
  registerList(program);
  registerShow(program);
  registerCancel(program);
  registerRun(program);
  registerChain(program);
  registerChains(program);
  registerActions(program);
  registerEvents(program);
  registerDoctor(program);
  registerWebhooks(program);
  registerSim(program);
  registerDemo(program);
  registerCompletion(program);
  return program;
}
