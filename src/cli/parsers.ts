import { InvalidArgumentError } from 'commander';
import { InputError } from '../errors/input-error.js';
import { parseWatchId } from '../watches/watch-ref.js';

export function positiveInteger(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text.trim()) || Number(text) <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive whole number (got ${JSON.stringify(text)})`);
    }
    return Number(text);
  };
}

export function nonNegativeInteger(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text.trim())) {
      throw new InvalidArgumentError(
        `${name} must be a whole number, 0 or more (got ${JSON.stringify(text)})`,
      );
    }
    return Number(text);
  };
}

export function port(name: string) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value > 65_535) {
      throw new InvalidArgumentError(
        `${name} must be a port number from 0 to 65535 (got ${JSON.stringify(text)})`,
      );
    }
    return value;
  };
}

/** A watch id as the CLI takes it, refused with the shape it must have. */
export function requireWatchId(text: string): string {
  if (parseWatchId(text) === undefined) {
    throw new InputError(
      `watch id must look like <kind>-<resourceId>-<actionId>, action-<actionId> or droplet-<dropletId>-deleted (got ${JSON.stringify(text)})`,
    );
  }
  return text;
}
