#!/usr/bin/env node
import { CommanderError } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ActionProbablyStartedError } from '../errors/action-probably-started-error.js';
import { ConfigError } from '../errors/config-error.js';
import { InputError } from '../errors/input-error.js';
import { RedisConnectionError } from '../errors/redis-connection-error.js';
import { TokenRefusedError } from '../errors/token-refused-error.js';
import { EXIT } from './cli-error.js';
import { oneLineErrors } from './one-line-errors.js';
import { buildProgram } from './program.js';

loadDotenv({ quiet: true });

// A reader that stops early (`actionwatch list | head`) closes the pipe: that ends the output, it
// is not a failure, and it must not print a stack.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? EXIT.ok);
});

try {
  await oneLineErrors(buildProgram()).parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Already printed by commander (help, version, or its one-line error).
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.failure;
  } else {
    // One clear line for anything the user can fix; a stack only for what looks like a bug.
    const known =
      error instanceof InputError ||
      error instanceof ConfigError ||
      error instanceof RedisConnectionError ||
      error instanceof TokenRefusedError ||
      error instanceof ActionProbablyStartedError;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`actionwatch: ${message.replace(/\s*\n\s*/g, '; ')}\n`);
    if (!known && error instanceof Error && process.env.LOG_LEVEL === 'debug')
      process.stderr.write(`${error.stack}\n`);
    process.exitCode = error instanceof ActionProbablyStartedError ? EXIT.probably_started : EXIT.failure;
  }
}
