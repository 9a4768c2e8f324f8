#!/usr/bin/env node
import { config as loadDotenv } from 'dotenv';
import { ActionProbablyStartedError } from '../errors/action-probably-started-error.js';
import { ConfigError } from '../errors/config-error.js';
import { InputError } from '../errors/input-error.js';
import { EXIT } from './cli-error.js';
import { buildProgram } from './program.js';

loadDotenv({ quiet: true });

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // One clear line for anything the user can fix; a stack only for what looks like a bug.
  const known =
    error instanceof InputError ||
    error instanceof ConfigError ||
    error instanceof ActionProbablyStartedError ||
    /Redis at .* did not answer/.test(String(error));
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`actionwatch: ${message}\n`);
  if (!known && error instanceof Error && process.env.LOG_LEVEL === 'debug')
    process.stderr.write(`${error.stack}\n`);
  process.exitCode = error instanceof ActionProbablyStartedError ? EXIT.probably_started : EXIT.failure;
}
