import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { parseEventTypes, parseStreamId, publicEventData } from '../../notifications/event-reader.js';
import { EventStream, type StreamEvent } from '../../notifications/event-stream.js';
import type { Runtime } from '../../runtime.js';
import { errorResponses, eventsQuerySchema } from '../schemas.js';

export interface EventRoutesOptions {
  runtime: Runtime;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  heartbeatMs: number;
  /** Aborted when the server closes: every open stream ends (clients reconnect with Last-Event-ID). */
  closing: AbortSignal;
}

const BATCH = 500;
/** A client this far behind is cut off; it resumes from its Last-Event-ID without loss. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

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

export async function eventRoutes(app: FastifyInstance, options: EventRoutesOptions): Promise<void> {
  const { runtime, heartbeatMs, closing } = options;

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
      // XREAD BLOCK holds its connection: each stream gets one of its own, closed with the stream.
      const blocking = runtime.redis.duplicate();
      blocking.on('error', (error) => request.log.debug({ err: error.message }, 'events connection error'));
      const stream = new EventStream(blocking, runtime.config.prefix);
      let cursor: string;
      try {
        cursor = resumeAfter ?? (await stream.lastId());
      } catch (error) {
        blocking.disconnect();
        throw error;
      }

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

      let open = true;
      const stop = () => {
        if (!open) return;
        open = false;
        blocking.disconnect();
        response.end();
      };
      response.once('close', stop);
      closing.addEventListener('abort', stop, { once: true });

      const send = (events: StreamEvent[]) => {
        for (const event of events) {
          cursor = event.id;
          if (types === undefined || types.has(event.type)) response.write(format(event));
        }
        if (response.writableLength > MAX_BUFFERED_BYTES) stop();
      };

      try {
        // What was missed first (non-blocking pages), then block for what comes next.
        let backlog: StreamEvent[];
        do {
          backlog = await stream.readAfter(cursor, BATCH);
          if (open) send(backlog);
        } while (open && backlog.length === BATCH);
        while (open) {
          const events = await stream.waitAfter(cursor, heartbeatMs, BATCH);
          if (!open) break;
          if (events.length === 0) response.write(': heartbeat\n\n');
          else send(events);
        }
      } catch (error) {
        if (open) request.log.warn({ err: (error as Error).message }, 'event stream ended by an error');
      } finally {
        closing.removeEventListener('abort', stop);
        stop();
      }
    },
  );
}
