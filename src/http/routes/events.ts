import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { InputError } from '../../errors/input-error.js';
import { parseEventTypes, parseStreamId, publicEventData } from '../../notifications/event-reader.js';
import type { StreamEvent } from '../../notifications/event-stream.js';
import type { Runtime } from '../../runtime.js';
import { onAbort } from '../../support/on-abort.js';
import type { Watch } from '../../watches/watch.js';
import { parseWatchId } from '../../watches/watch-ref.js';
import { errorResponses, eventsQuerySchema, MAX_PROGRESS_WATCHES } from '../schemas.js';

export interface EventRoutesOptions {
  runtime: Runtime;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  heartbeatMs: number;
  /** How often the watches a stream follows (`?watch=`) are sent as `watch.progress` events. */
  progressMs: number;
  /** Aborted when the server closes: every open stream ends (clients reconnect with Last-Event-ID). */
  closing: AbortSignal;
  /**
   * A client whose unsent data passes this many bytes is cut off, so a slow reader never holds
   * memory or anyone else up; it resumes from its Last-Event-ID without loss.
   */
  maxBufferedBytes: number;
}

/**
 * Each batch of events is formatted and encoded once, however many streams send it: every socket
 * is handed the same bytes (a batch filtered by type is encoded for its own streams).
 */
const encoded = new WeakMap<readonly StreamEvent[], Buffer>();

function parseTypes(text: string | undefined): Set<string> | undefined {
  return text === undefined ? undefined : parseEventTypes([text], 'query parameter type');
}

/** `?watch=a,b`: the watch ids a stream follows with progress events; InputError naming a bad one. */
function parseFollowed(text: string | undefined): string[] {
  if (text === undefined) return [];
  const ids = [...new Set(text.split(',').map((id) => id.trim()))].filter((id) => id !== '');
  if (ids.length > MAX_PROGRESS_WATCHES)
    throw new InputError(
      `query parameter watch names at most ${MAX_PROGRESS_WATCHES} watches (got ${ids.length})`,
    );
  const bad = ids.find((id) => parseWatchId(id) === undefined);
  if (bad !== undefined)
    throw new InputError(`query parameter watch: ${JSON.stringify(bad)} is not a watch id`);
  return ids;
}

/**
 * A waiting watch as GET /v1/watches/{id} shows it, eta included. No `id:` line: progress is not in
 * the events stream, so a client resuming with Last-Event-ID resumes after the last outcome.
 */
function formatProgress(watch: Watch): string {
  return `event: watch.progress\ndata: ${JSON.stringify(watch)}\n\n`;
}

function parseResumeId(header: string | string[] | undefined, query: string | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : (header ?? query);
  if (value === undefined || value.trim() === '') return undefined;
  return parseStreamId(value, 'Last-Event-ID');
}

/** One SSE message. */
function format(event: StreamEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(publicEventData(event))}\n\n`;
}

function encode(events: readonly StreamEvent[]): Buffer {
  let bytes = encoded.get(events);
  if (bytes === undefined) {
    bytes = Buffer.from(events.map(format).join(''));
    encoded.set(events, bytes);
  }
  return bytes;
}

export async function eventRoutes(app: FastifyInstance, options: EventRoutesOptions): Promise<void> {
  const { runtime, heartbeatMs, progressMs, closing, maxBufferedBytes } = options;

  app.get<{ Querystring: { type?: string; lastEventId?: string; watch?: string } }>(
    '/v1/events',
    {
      schema: {
        tags: ['events'],
        summary:
          'Server-Sent Events: every outcome from the events stream; resumes after Last-Event-ID without loss or repeats',
        querystring: eventsQuerySchema,
        headers: {
          type: 'object',
          properties: {
            'last-event-id': {
              type: 'string',
              description: 'Resume after this event id (sent by EventSource).',
            },
          },
        },
        response: {
          200: {
            description:
              'text/event-stream: `id` is the stream id, `event` the type (action.completed, …), `data` the outcome JSON',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const types = parseTypes(request.query.type);
      const followed = parseFollowed(request.query.watch);
      const resumeAfter = parseResumeId(request.headers['last-event-id'], request.query.lastEventId);
      // Fails here (a 500, nothing hijacked yet) when Redis does not answer.
      await runtime.events.start();

      reply.hijack();
      const response: ServerResponse = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // The connection serves this stream only: when it ends (a shutdown, a slow reader) it goes too.
        connection: 'close',
        'x-accel-buffering': 'no',
      });
      response.write(': connected\n\n');

      const gone = new AbortController();
      let open = true;
      let forgetClosing: (() => void) | undefined;
      const stop = () => {
        if (!open) return;
        open = false;
        clearInterval(heartbeat);
        clearInterval(progressTimer);
        forgetClosing?.();
        gone.abort();
        response.end();
      };
      const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), heartbeatMs);
      // Each followed watch until it is done: its outcome then comes as an event like any other.
      let waiting = followed;
      const sendProgress = async () => {
        if (waiting.length === 0) return;
        try {
          const watches = await runtime.watches.getMany(waiting);
          const still = watches.filter((watch): watch is Watch => watch?.state === 'waiting');
          waiting = still.map((watch) => watch.id);
          if (open && still.length > 0 && response.writableLength <= maxBufferedBytes)
            response.write(still.map(formatProgress).join(''));
        } catch (error) {
          // Redis did not answer this time: the next tick tries again.
          request.log.warn({ err: (error as Error).message }, 'watch progress not read');
        }
      };
      // Only a stream that follows watches has progress to send.
      const progressTimer =
        followed.length === 0 ? undefined : setInterval(() => void sendProgress(), progressMs);
      void sendProgress();
      response.once('close', stop);
      forgetClosing = onAbort(closing, stop);

      try {
        // The feed replays what was missed from Redis (paced by the client), then joins the live feed.
        await runtime.events.subscribe(
          {
            types,
            onEvents: (events) => {
              if (!open) return true;
              // What the client has not taken since the batches before this one.
              if (response.writableLength > maxBufferedBytes) return false;
              response.write(encode(events));
              return true;
            },
            onEnd: (reason) => {
              if (reason === 'slow') request.log.info('event stream dropped: its reader fell behind');
              stop();
            },
          },
          {
            ...(resumeAfter === undefined ? {} : { after: resumeAfter }),
            pace: () => drained(response),
            signal: gone.signal,
          },
        );
      } catch (error) {
        if (open) request.log.warn({ err: (error as Error).message }, 'event stream ended by an error');
        stop();
      }
    },
  );
}

/** Resolves once the response has sent what it buffered (or has closed). */
function drained(response: ServerResponse): Promise<void> {
  if (response.writableLength === 0 || response.destroyed || response.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}
