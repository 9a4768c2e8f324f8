import type { Command } from 'commander';
import { withRuntime } from '../context.js';

interface EventsOptions {
  follow?: boolean;
  type: string[];
  since?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description(
      'print outcomes from the events stream as JSON Lines, each with its stream id ("id") to resume after',
    )
    .option('-f, --follow', 'after what the stream holds, print each new event as it comes, until Ctrl-C')
    .option(
      '--type <types>',
      'only these event types (repeatable or comma list): action.completed … chain.failed, or an outcome (errored)',
      collect,
      [],
    )
    .option(
      '--since <id>',
      'start after this event id (the "id" of the last line you saw; 0 for the start). Default: the start, or now with --follow',
    )
    .action(async (options: EventsOptions) => {
      const [{ EventStream }, { parseEventTypes, parseStreamId, publicEventData, readEvents }] =
        await Promise.all([
          import('../../notifications/event-stream.js'),
          import('../../notifications/event-reader.js'),
        ]);
      const types = options.type.length === 0 ? undefined : parseEventTypes(options.type, '--type');
      const since = options.since === undefined ? undefined : parseStreamId(options.since, '--since');
      const follow = options.follow === true;
      await withRuntime({}, async (runtime) => {
        // XREAD BLOCK holds its connection: the follow gets one of its own, closed to stop it.
        const connection = runtime.redis.duplicate();
        connection.on('error', (error) =>
          runtime.logger.debug({ err: error.message }, 'events connection error'),
        );
        const stop = new AbortController();
        const end = () => {
          stop.abort();
          connection.disconnect();
        };
        process.once('SIGINT', end);
        process.once('SIGTERM', end);
        // A closed pipe (`| head`) ends the command like Ctrl-C does.
        process.stdout.once('error', end);
        try {
          const stream = new EventStream(connection, runtime.config.prefix);
          const after = since ?? (follow ? await stream.lastId() : '0-0');
          for await (const event of readEvents(stream, { after, follow, signal: stop.signal })) {
            if (types !== undefined && !types.has(event.type)) continue;
            if (stop.signal.aborted) break;
            process.stdout.write(`${JSON.stringify({ id: event.id, ...publicEventData(event) })}\n`);
          }
        } finally {
          process.off('SIGINT', end);
          process.off('SIGTERM', end);
          process.stdout.off('error', end);
          connection.disconnect();
        }
      });
    });
}
