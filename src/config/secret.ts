import { inspect } from 'node:util';

/**
 * Holds a credential so that it cannot leak by accident: JSON, string conversion and
 * `util.inspect` (and so every logger) all print `[redacted]`. Only `reveal()` returns it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}
