import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { parseEventTypes, parseStreamId, publicEventData } from '../../notifications/event-reader.js';
import type { StreamEvent } from '../../notifications/event-stream.js';
import type { Runtime } from '../../runtime.js';
import { onAbort } from '../../support/on-abort.js';
import { errorResponses, eventsQuerySchema } from '../schemas.js';

export interface EventRoutesOptions {
  runtime: Runtime;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  heartbeatMs: number;
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
  const { runtime, heartbeatMs, closing, maxBufferedBytes } = options;

  app.get<{ Querystring: { type?: string; lastEventId?: string } }>(
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
        forgetClosing?.();
        gone.abort();
        response.end();
      };
      const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), heartbeatMs);
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
