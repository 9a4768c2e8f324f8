import { type Command, Option } from 'commander';
import { withRuntime } from '../context.js';
import { collect } from './watch.js';

interface EventsOptions {
  follow?: boolean;
  type: string[];
  since?: string;
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description(
      'print outcomes from the events stream as JSON Lines, each with its stream id ("id") to resume after',
    )
    .option('-f, --follow', 'keep printing new events as they are appended, until Ctrl-C')
    .addOption(
      new Option(
        '--type <types>',
        'only these event types (repeatable or comma list): action.completed … chain.failed, or an outcome (errored)',
      )
        .argParser(collect)
        .default([], 'all'),
    )
    .option(
      '--since <id>',
      'start after this event id (the "id" of the last line seen; 0: the start). Default: the start, or the end with --follow',
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
          let last = since ?? (follow ? await stream.lastId() : '0-0');
          try {
            for await (const event of readEvents(stream, { after: last, follow, signal: stop.signal })) {
              last = event.id;
              if (types !== undefined && !types.has(event.type)) continue;
              if (stop.signal.aborted) break;
              process.stdout.write(`${JSON.stringify({ id: event.id, ...publicEventData(event) })}\n`);
            }
          } catch (error) {
            const why = error instanceof Error ? error.message : String(error);
            throw new Error(`reading the events stream failed (${why}); resume with --since ${last}`);
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
