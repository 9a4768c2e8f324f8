import type { Logger } from '../logging/logger.js';

/**
 * One plain line on stderr for a person at the terminal (a warning, a hint), prefixed like every
 * CLI message; silenced with the logs when the log level is above warn.
 */
export function notice(logger: Logger, message: string): void {
  if (logger.isLevelEnabled('warn')) process.stderr.write(`actionwatch: ${message}\n`);
}
