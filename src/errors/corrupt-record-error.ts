/**
 * What Redis holds under `key` is not the record it should be (not JSON, or not of the record's
 * shape): written by something else, or damaged. Named with its key so a person can look.
 */
export class CorruptRecordError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`the record at Redis key ${key} is not readable: ${problem}`);
    this.name = 'CorruptRecordError';
  }
}
