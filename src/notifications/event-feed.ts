import { FeedClosedError } from '../errors/feed-closed-error.js';
import type { Logger } from '../logging/logger.js';
import { onAbort } from '../support/on-abort.js';
import type { Redis } from '../support/redis.js';
import { compareStreamIds, EventStream, type StreamEvent, streamIdTime } from './event-stream.js';

export interface WaitOptions {
  /** Give up (resolve undefined) after this long; wait forever when absent. */
  timeoutMs?: number;
  /** Reject with the signal's reason when it aborts; the waiter is freed at once. */
  signal?: AbortSignal;
}

export interface FeedWaitOptions<T> extends WaitOptions {
  /**
   * The answer an event naming the subject carries, when the waiter can tell it is the one it
   * waits for (then nothing is read); undefined to read the stored outcome instead.
   */
  fromEvent?: (event: StreamEvent) => T | undefined;
}

/** What a waiter waits for: a watch's outcome (`action.*` events) or a chain's (`chain.*`). */
export interface WaitSubject {
  kind: 'watch' | 'chain';
  id: string;
}

/** A live reader of the feed: an SSE stream, the library's `on(...)` events. */
export interface FeedSubscriber {
  /** Only events of these types; every event when absent. */
  types?: ReadonlySet<string> | undefined;
  /**
   * Takes the events of one read (those of its types), synchronously; subscribers without a type
   * filter are all handed the same array. Returning false says the
   * reader has fallen too far behind: the feed drops it (and calls `onEnd('slow')`) without slowing
   * anyone else down. Judge by what is still unsent from earlier batches, not by this one.
   */
  onEvents(events: readonly StreamEvent[]): boolean;
  /** The feed ended this subscription: its reader was too slow, or the feed closed. */
  onEnd?(reason: 'slow' | 'closed'): void;
  /** Reading the stream failed; the feed retries by itself and nothing is lost. */
  onError?(error: Error): void;
}

export interface SubscribeOptions {
  /** First replay, from Redis, every entry after this id; then follow live without loss or repeats. */
  after?: string;
  /** Awaited between replayed pages, so that a slow reader paces its replay. */
  pace?: () => Promise<void>;
  /** Ends the subscription (a replay under way stops): the reader went away. */
  signal?: AbortSignal;
}

export interface FeedSubscription {
  close(): void;
}

export interface FeedStats {
  /** Waits open on the feed (long-polls, waitFor, waitForChain, CLI wait). */
  waiters: number;
  /** Live subscribers (SSE streams, library listeners). */
  streams: number;
  /** Stream entries read and dispatched since the feed started. */
  dispatched: number;
  /** Subscribers dropped for falling behind. */
  dropped: number;
}

export interface EventFeedOptions {
  /** The process's shared (non-blocking) client: replays and the lag reading. */
  redis: Redis;
  /** Opens the feed's one blocking connection. */
  connect: () => Redis;
  prefix: string;
  logger: Logger;
  /** Entries per read. */
  batchSize?: number;
  /** Longest block of one read. */
  blockMs?: number;
  /** A subscriber whose replay has this many live events waiting behind it is dropped as slow. */
  maxPendingEvents?: number;
}

interface Waiter {
  /** An event names the subject: take its answer, or read the stored outcome. */
  offer(event: StreamEvent): void;
  /** Reads the stored outcome (again): after a gap. */
  check(): void;
  fail(error: Error): void;
}

const RETRY_CHECK_MS = 1_000;
const MAX_BACKOFF_MS = 5_000;

function subjectKey(kind: WaitSubject['kind'], id: string): string {
  return `${kind}:${id}`;
}

function eventSubject(event: StreamEvent): string {
  return subjectKey(event.subject, event.watchId);
}

class Subscription implements FeedSubscription {
  ended = false;
  replaying = false;
  /** Live events that arrived while the replay ran. */
  pending: StreamEvent[] = [];
  /** Forgets the subscriber's abort signal once the subscription ends. */
  detach: (() => void) | undefined;

  constructor(
    private readonly subscriber: FeedSubscriber,
    private readonly release: (
      subscription: Subscription,
      reason: 'slow' | 'closed' | 'unsubscribed',
    ) => void,
    private readonly maxPending: number,
  ) {}

  /** Live events: passed on at once, or held until the replay is done. */
  offer(events: StreamEvent[]): void {
    if (this.ended) return;
    if (!this.replaying) {
      this.deliver(events);
      return;
    }
    this.pending.push(...events);
    if (this.pending.length > this.maxPending) this.release(this, 'slow');
  }

  deliver(events: StreamEvent[]): void {
    if (this.ended) return;
    const { types } = this.subscriber;
    const wanted = types === undefined ? events : events.filter((event) => types.has(event.type));
    if (wanted.length > 0 && !this.subscriber.onEvents(wanted)) this.release(this, 'slow');
  }

  error(error: Error): void {
    if (!this.ended) this.subscriber.onError?.(error);
  }

  end(reason: 'slow' | 'closed' | 'unsubscribed'): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = [];
    this.detach?.();
    if (reason !== 'unsubscribed') this.subscriber.onEnd?.(reason);
  }

  close(): void {
    this.release(this, 'unsubscribed');
  }
}

/**
 * The one reader of `<prefix>:events` in a process. One blocking connection reads the stream in
 * batches; each entry is decoded once and dispatched in memory to the waiters of its watch (or
 * chain) and to every live subscriber, so Redis connections stay fixed however many clients wait.
 *
 * The stored outcome stays the truth: a waiter reads it when it starts, when an event names its
 * subject, and after any gap (a lost connection, entries trimmed before they were read), so an
 * outcome recorded before the wait, or trimmed from the stream, is never missed. It starts on the
 * first waiter or subscriber and reconnects with backoff after Redis errors.
 */
export class EventFeed {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly maxPendingEvents: number;
  private connection: Redis | undefined;
  private starting: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private cursor = '0-0';
  /** Set when reading stopped for a while: the next read starts by re-syncing. */
  private gap = false;
  private closed = false;
  private wakeFromBackoff: (() => void) | undefined;
  private waiterCount = 0;
  private dispatched = 0;
  private dropped = 0;

  constructor(private readonly options: EventFeedOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.blockMs = options.blockMs ?? 5_000;
    this.maxPendingEvents = options.maxPendingEvents ?? 10_000;
  }

  /** Resolves once the feed follows the stream: every entry added after that is dispatched. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new FeedClosedError());
    this.starting ??= this.open().catch((error: unknown) => {
      this.connection?.disconnect();
      this.connection = undefined;
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /**
   * Resolves with what `read` returns (the stored outcome) as soon as it is there, or undefined
   * after `timeoutMs`. `read` runs once the feed follows the stream, again whenever an event names
   * the subject, and after every gap in reading.
   */
  async waitFor<T>(
    subject: WaitSubject,
    read: () => Promise<T | undefined>,
    options: FeedWaitOptions<T> = {},
  ): Promise<T | undefined> {
    const { signal } = options;
    signal?.throwIfAborted();
    await this.start();
    signal?.throwIfAborted();
    return new Promise<T | undefined>((resolve, reject) => {
      const key = subjectKey(subject.kind, subject.id);
      let settled = false;
      let reading = false;
      let readAgain = false;
      let started = false;
      let retry: NodeJS.Timeout | undefined;
      let forgetAbort: (() => void) | undefined;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(retry);
        forgetAbort?.();
        this.removeWaiter(key, waiter);
        finish();
      };
      const check = () => {
        if (settled) return;
        if (reading) {
          readAgain = true;
          return;
        }
        const initial = !started;
        started = true;
        reading = true;
        readAgain = false;
        read().then(
          (value) => {
            reading = false;
            if (value !== undefined) settle(() => resolve(value));
            else if (readAgain) check();
          },
          (error: unknown) => {
            reading = false;
            // Redis down when the wait begins: say so. Later, a failed look is simply tried again.
            if (initial) settle(() => reject(error));
            else {
              clearTimeout(retry);
              retry = setTimeout(check, RETRY_CHECK_MS);
            }
          },
        );
      };
      const offer = (event: StreamEvent) => {
        const answer = options.fromEvent?.(event);
        if (answer === undefined) check();
        else settle(() => resolve(answer));
      };
      const waiter: Waiter = { offer, check, fail: (error) => settle(() => reject(error)) };
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => settle(() => resolve(undefined)), Math.min(options.timeoutMs, 2 ** 31 - 1));
      this.addWaiter(key, waiter);
      // Many waits may share one signal: it gets one listener, not one per wait.
      if (signal !== undefined) forgetAbort = onAbort(signal, () => settle(() => reject(signal.reason)));
      check();
    });
  }

  /**
   * Follows the stream live (after replaying from `options.after` when given) until the returned
   * subscription is closed, the subscriber falls behind, or the feed closes.
   */
  async subscribe(subscriber: FeedSubscriber, options: SubscribeOptions = {}): Promise<FeedSubscription> {
    await this.start();
    const subscription = new Subscription(
      subscriber,
      (ended, reason) => this.release(ended, reason),
      this.maxPendingEvents,
    );
    this.subscriptions.add(subscription);
    const { signal } = options;
    const close = () => subscription.close();
    if (signal !== undefined) subscription.detach = onAbort(signal, close);
    if (options.after !== undefined) {
      subscription.replaying = true;
      try {
        await this.replay(subscription, options.after, options.pace);
      } catch (error) {
        close();
        throw error;
      }
    }
    return subscription;
  }

  stats(): FeedStats {
    return {
      waiters: this.waiterCount,
      streams: this.subscriptions.size,
      dispatched: this.dispatched,
      dropped: this.dropped,
    };
  }

  /** Seconds between the newest entry of the stream and the last one the feed read (0 when idle). */
  async lagSeconds(): Promise<number> {
    if (this.loop === undefined || this.closed) return 0;
    const newest = await new EventStream(this.options.redis, this.options.prefix).lastId();
    if (compareStreamIds(newest, this.cursor) <= 0 || this.cursor === '0-0') return 0;
    return (streamIdTime(newest) - streamIdTime(this.cursor)) / 1000;
  }

  /** Stops reading; every open waiter rejects with FeedClosedError and every subscription ends. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeFromBackoff?.();
    this.connection?.disconnect();
    await this.starting?.catch(() => {});
    await this.loop;
    const closedError = new FeedClosedError();
    for (const waiters of [...this.waiters.values()])
      for (const waiter of [...waiters]) waiter.fail(closedError);
    for (const subscription of [...this.subscriptions]) this.release(subscription, 'closed');
  }

  private async open(): Promise<void> {
    const connection = this.options.connect();
    this.connection = connection;
    connection.on('error', (error) =>
      this.options.logger.debug({ err: error.message }, 'event feed connection error'),
    );
    // A read in flight is re-sent by ioredis after a reconnect, so no error may ever reach the
    // loop: the connection's own events mark the gap, and waiters look again once it is back.
    connection.on('close', () => {
      if (!this.closed) this.gap = true;
    });
    connection.on('ready', () => {
      if (this.gap && this.loop !== undefined) this.recheckWaiters();
    });
    const stream = new EventStream(connection, this.options.prefix);
    this.cursor = await stream.lastId();
    if (this.closed) throw new FeedClosedError();
    this.gap = false;
    this.loop = this.follow(stream);
  }

  private async follow(stream: EventStream): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.gap) {
          this.gap = false;
          await this.resync(stream);
        }
        const { events, oldestId } = await stream.waitAfter(this.cursor, this.blockMs, this.batchSize);
        if (this.closed) return;
        if (failures > 0) {
          this.options.logger.info({ failures }, 'event feed reading the events stream again');
          failures = 0;
        }
        // The oldest entry is past where the feed stood: entries may have been trimmed unread.
        const trimmed = oldestId !== undefined && compareStreamIds(oldestId, this.cursor) > 0;
        const last = events.at(-1);
        if (last !== undefined) this.cursor = last.id;
        this.dispatch(events);
        if (trimmed) this.recheckWaiters();
      } catch (error) {
        if (this.closed) return;
        this.gap = true;
        failures += 1;
        const failure = error instanceof Error ? error : new Error(String(error));
        if (failures === 1) {
          this.options.logger.warn(
            { err: failure.message },
            'event feed cannot read the events stream; retrying (open waits look at stored outcomes once it is back)',
          );
        }
        for (const subscription of this.subscriptions) subscription.error(failure);
        await this.backoff(failures);
      }
    }
  }

  /** After a gap: the stream may be shorter than before (a Redis restarted without its data). */
  private async resync(stream: EventStream): Promise<void> {
    const newest = await stream.lastId();
    if (compareStreamIds(newest, this.cursor) < 0) {
      this.options.logger.warn(
        { cursor: this.cursor, newest },
        'the events stream ends before the feed position (Redis lost data?): following from its newest entry',
      );
      this.cursor = newest;
    }
    this.recheckWaiters();
  }

  private backoff(failures: number): Promise<void> {
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.wakeFromBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private dispatch(events: StreamEvent[]): void {
    this.dispatched += events.length;
    for (const event of events) {
      const waiters = this.waiters.get(eventSubject(event));
      if (waiters !== undefined) for (const waiter of [...waiters]) waiter.offer(event);
    }
    if (events.length > 0) for (const subscription of [...this.subscriptions]) subscription.offer(events);
  }

  private recheckWaiters(): void {
    for (const waiters of [...this.waiters.values()]) for (const waiter of [...waiters]) waiter.check();
  }

  private async replay(subscription: Subscription, after: string, pace?: () => Promise<void>): Promise<void> {
    const stream = new EventStream(this.options.redis, this.options.prefix);
    let cursor = after;
    for await (const page of stream.pagesAfter(after, this.batchSize)) {
      subscription.deliver(page);
      const last = page.at(-1);
      if (last !== undefined) cursor = last.id;
      if (subscription.ended) break;
      if (page.length === this.batchSize) await pace?.();
    }
    // Live events that arrived meanwhile, minus those the replay already covered.
    const pending = subscription.pending;
    subscription.pending = [];
    subscription.replaying = false;
    subscription.deliver(pending.filter((event) => compareStreamIds(event.id, cursor) > 0));
  }

  private release(subscription: Subscription, reason: 'slow' | 'closed' | 'unsubscribed'): void {
    if (!this.subscriptions.delete(subscription)) return;
    if (reason === 'slow') this.dropped += 1;
    subscription.end(reason);
  }

  private addWaiter(key: string, waiter: Waiter): void {
    let waiters = this.waiters.get(key);
    if (waiters === undefined) {
      waiters = new Set();
      this.waiters.set(key, waiters);
    }
    waiters.add(waiter);
    this.waiterCount += 1;
  }

  private removeWaiter(key: string, waiter: Waiter): void {
    const waiters = this.waiters.get(key);
    if (waiters === undefined || !waiters.delete(waiter)) return;
    this.waiterCount -= 1;
    if (waiters.size === 0) this.waiters.delete(key);
  }
}
