/** Another caller holds the key's claim: it is starting this very action right now. */
export class RunKeyBusyError extends Error {
  constructor(
    readonly key: string,
    /** When the claim lapses if its owner never finishes. */
    readonly expiresAt: number,
  ) {
    super(`another caller is starting the action for key ${key}`);
    this.name = 'RunKeyBusyError';
  }
}
