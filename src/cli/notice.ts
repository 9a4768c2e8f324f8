import type { Logger } from '../logging/logger.js';
import { activeStatusLine } from './status-line.js';

/**
 * One plain line on stderr for a person at the terminal (a warning, a hint), prefixed like every
 * CLI message; silenced with the logs when the log level is above warn.
 */
export function notice(logger: Logger, message: string): void {
  if (!logger.isLevelEnabled('warn')) return;
  // Above a live status line (wait on a terminal), not through it.
  const status = activeStatusLine();
  if (status === undefined) process.stderr.write(`actionwatch: ${message}\n`);
  else status.print(`actionwatch: ${message}\n`);
}
