import type { Redis } from 'ioredis';

/** ioredis's own reply error for a SELECT, as emitted on the client. */
export function isSelectFailure(error: unknown): boolean {
  return (error as { command?: { name?: string } } | undefined)?.command?.name === 'select';
}

/**
 * ioredis reports a failed SELECT (a database the server does not have) as an `error` event and
 * then runs every command in database 0. This closes such a client instead, so its commands fail
 * rather than write elsewhere; every duplicate made from it (BullMQ's blocking connections, the
 * waiters') is guarded the same way.
 */
export function guardDatabase(client: Redis): Redis {
  client.on('error', (error) => {
    if (!isSelectFailure(error)) return;
    client.disconnect();
    client.emit(
      'error',
      new Error(
        `Redis refused database ${client.options.db ?? 0} (${error.message}): this connection is closed rather than use database 0`,
      ),
    );
  });
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override) => guardDatabase(duplicate(override));
  return client;
}
