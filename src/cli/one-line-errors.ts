import type { Command } from 'commander';

/**
 * commander's own message (`error: unknown option '--timout'` and, on a line of its own,
 * `(Did you mean --timeout?)`) as one line without its `error:` prefix.
 */
export function oneLineMessage(text: string): string {
  return text
    .trim()
    .replace(/^error:\s*/i, '')
    .replace(/\s*\n\s*\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
    .replace(/\s*\n\s*/g, '; ');
}

/**
 * Makes commander's errors (unknown options and commands, missing or invalid arguments) one
 * `actionwatch: …` line like every other error, on every command, and makes commander throw rather
 * than exit so that main sets the exit code. Call it once the program has all its commands.
 */
export function oneLineErrors(program: Command): Command {
  const commands = [program];
  for (const command of commands) {
    command.configureOutput({
      outputError: (text, write) => write(`actionwatch: ${oneLineMessage(text)}\n`),
    });
    command.exitOverride();
    commands.push(...command.commands);
  }
  return program;
}
