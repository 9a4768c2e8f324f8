/** Bad input from a user: a CLI argument, a file line, a request body, an environment variable. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
