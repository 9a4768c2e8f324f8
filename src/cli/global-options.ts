import { type Command, Option } from 'commander';
import { LOG_LEVELS } from '../config/config.js';

interface GlobalOptions {
  logLevel?: string;
  quiet?: boolean;
}

/** `--quiet` given: besides logs, commands leave out the progress they write to stderr. */
export function isQuiet(command: Command): boolean {
  return command.optsWithGlobals<GlobalOptions>().quiet === true;
}

/**
 * `--log-level` and `--quiet`, accepted before or after any command. They override LOG_LEVEL for
 * this run, so every part that reads the configuration (runtime, demo, server) logs at that level.
 */
export function addGlobalOptions(program: Command): void {
  // Every command's --help lists them too.
  program.configureHelp({ ...program.configureHelp(), showGlobalOptions: true });
  program
    .addOption(
      new Option('--log-level <level>', 'log level on stderr for this run (overrides LOG_LEVEL)').choices(
        LOG_LEVELS,
      ),
    )
    .addOption(
      new Option('-q, --quiet', 'errors only on stderr: no logs below error, no progress lines').conflicts(
        'logLevel',
      ),
    )
    .hook('preAction', (_program, command) => {
      const { logLevel, quiet } = command.optsWithGlobals<GlobalOptions>();
      const level = quiet ? 'error' : logLevel;
      if (level !== undefined) process.env.LOG_LEVEL = level;
    });
}
