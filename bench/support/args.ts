import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A bad command line: the message names the option and what it must be. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parsed(
  name: string,
  text: string | undefined,
  fallback: number,
  test: (value: number) => boolean,
  what: string,
) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !test(value)) throw new UsageError(`--${name} must be ${what} (got "${text}")`);
  return value;
}

export function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  return parsed(
    name,
    text,
    fallback,
    (value) => Number.isSafeInteger(value) && value > 0,
    'a whole number above 0',
  );
}

export function positiveNumber(name: string, text: string | undefined, fallback: number): number {
  return parsed(name, text, fallback, (value) => Number.isFinite(value) && value > 0, 'a number above 0');
}

/** A comma-separated subset of `allowed`, in the order given by `allowed`. */
export function subset<T extends string>(name: string, text: string | undefined, allowed: readonly T[]): T[] {
  if (text === undefined) return [...allowed];
  const chosen = text.split(',').map((item) => item.trim());
  const unknown = chosen.filter((item) => !(allowed as readonly string[]).includes(item));
  if (unknown.length > 0 || chosen.length === 0) {
    throw new UsageError(`--${name} takes a comma-separated list of ${allowed.join(', ')} (got "${text}")`);
  }
  return allowed.filter((item) => chosen.includes(item));
}

/**
 * A benchmark mode's options, strictly parsed (UsageError naming the problem); with `--help`,
 * prints `usage` and returns undefined.
 */
export function parseModeArgs(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  usage: string,
): Record<string, string | boolean | undefined> | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return undefined;
  }
  return values;
}
