import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Paths pino censors wherever they appear. The token and Redis passwords travel as `Secret`s,
 * which print as `[redacted]`; this list catches raw headers if anything ever logs a request, and
 * ioredis options (`password`, `sentinelPassword`) if anything ever logs a connection's.
 */
const REDACT = [
  'token',
  '*.token',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'sentinelPassword',
  '*.sentinelPassword',
  'authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Defaults to stderr: stdout is kept for machine-readable output. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'actionwatch',
      level: options.level ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
