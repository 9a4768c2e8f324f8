/** Why a Redis connection cannot be used; each cause gets its own message. */
export type RedisFailure =
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'protocol'
  | 'auth'
  | 'database'
  | 'tls'
  | 'unavailable';

/**
 * Redis cannot be used as configured (REDIS_URL or the other REDIS_* settings): nothing was written. The message is one line
 * that names the cause and what to change.
 */
export class RedisConnectionError extends Error {
  constructor(
    readonly failure: RedisFailure,
    message: string,
  ) {
    super(message.replace(/\s+/g, ' ').trim());
    this.name = 'RedisConnectionError';
  }
}
