/**
 * DigitalOcean refused the token of the only worker a command relies on (`--with-worker`), so what
 * it waits for cannot happen: the command stops instead of waiting until a deadline.
 */
export class TokenRefusedError extends Error {
  constructor(
    /** The variable holding the refused token. */
    readonly variable: string,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'TokenRefusedError';
  }
}
