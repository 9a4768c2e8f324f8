import { parseDuration } from '../config/duration.js';
import { InputError } from '../errors/input-error.js';

/** A watch's `timeout` as a person writes it (`30m`, `6h`, `1h30m`), in ms; shared by the CLI and the API. */
export function parseTimeout(text: string | undefined, name = 'timeout'): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(String(text));
  if (ms === undefined || ms <= 0)
    throw new InputError(
      `${name} must be a positive duration such as 30m or 6h (got ${JSON.stringify(text)})`,
    );
  return ms;
}
