import type { Logger } from '../logging/logger.js';
import { EventStream, type StreamEvent } from '../notifications/event-stream.js';
import type { Redis } from '../support/redis.js';

/**
 * Follows `<prefix>:events` from the moment it starts, handing every entry to `onEvent`, until
 * stopped. Uses a connection of its own (XREAD BLOCK holds it); a failed read is retried after a
 * pause, from the last entry seen, so nothing is skipped or repeated.
 */
export class EventFeed {
  private connection: Redis | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onEvent: (event: StreamEvent) => void,
    private readonly onError: (error: Error) => void,
    private readonly logger: Logger,
  ) {}

  /** Resolves once the feed's starting point is fixed: every later event is delivered. */
  async start(): Promise<void> {
    if (this.loop !== undefined || this.stopped) return;
    const connection = this.redis.duplicate();
    connection.on('error', (error) =>
      this.logger.debug({ err: error.message }, 'event feed connection error'),
    );
    this.connection = connection;
    const stream = new EventStream(connection, this.prefix);
    const cursor = await stream.lastId();
    this.loop = this.follow(stream, cursor);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connection?.disconnect();
    await this.loop;
  }

  private async follow(stream: EventStream, from: string): Promise<void> {
    let cursor = from;
    while (!this.stopped) {
      try {
        for (const event of await stream.waitAfter(cursor, 5_000)) {
          cursor = event.id;
          this.onEvent(event);
        }
      } catch (error) {
        if (this.stopped) return;
        this.onError(error instanceof Error ? error : new Error(String(error)));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }
}
