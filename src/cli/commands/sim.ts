import { type Command, InvalidArgumentError, Option } from 'commander';
import { printJson } from '../context.js';
import { isQuiet } from '../global-options.js';
import { nonNegativeInteger, port, positiveInteger } from '../parsers.js';

interface SimOptions {
  port: number;
  host: string;
  token: string[];
  perMinute: number;
  perHour: number;
  rateLimit: boolean;
  listOrder: 'oldest-first' | 'newest-first';
  background?: number;
  duration: number;
  typeDuration?: Record<string, number>;
  deleteDelay: number;
  examples: boolean;
}

/** `--type-duration snapshot=60000`, repeatable: how long actions of one type run. */
function typeDuration(text: string, previous: Record<string, number> = {}): Record<string, number> {
  const match = /^([a-z_]+)=(\d+)$/i.exec(text.trim());
  if (match === null || Number(match[2]) <= 0)
    throw new InvalidArgumentError(
      `--type-duration must look like <action type>=<ms>, e.g. snapshot=60000 (got ${JSON.stringify(text)})`,
    );
  return { ...previous, [match[1] as string]: Number(match[2]) };
}

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description(
      'run the DigitalOcean API simulator (action endpoints, rate limits, faults) until SIGINT/SIGTERM',
    )
    .option('--port <port>', 'port to listen on (0 = any free one)', port('--port'), 4010)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option(
      '--token <token>',
      'accepted bearer token (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--per-minute <n>', 'requests per token per sliding minute', positiveInteger('--per-minute'), 250)
    .option('--per-hour <n>', 'requests per token per sliding hour', positiveInteger('--per-hour'), 5000)
    .option('--no-rate-limit', 'never answer 429')
    .addOption(
      new Option('--list-order <order>', 'order of list responses')
        .choices(['oldest-first', 'newest-first'])
        .default('oldest-first'),
    )
    .option(
      '--background <perSecond>',
      'create this many unrelated actions per second',
      positiveInteger('--background'),
    )
    .option('--duration <ms>', 'default action duration in ms', positiveInteger('--duration'), 20_000)
    .option(
      '--type-duration <type=ms>',
      'duration of one action type, e.g. create=45000 (repeatable)',
      typeDuration,
    )
    .option(
      '--delete-delay <ms>',
      'how long a deleted droplet, volume or address still answers GET before 404',
      nonNegativeInteger('--delete-delay'),
      0,
    )
    .option('--no-examples', "start without the README examples' droplet, reserved IP and volume")
    .action(async (options: SimOptions, command: Command) => {
      const tokens =
        options.token === undefined || options.token.length === 0 ? ['sim-token'] : options.token;
      const { Simulator } = await import('../../simulator/simulator.js');
      const simulator = await Simulator.start({
        port: options.port,
        host: options.host,
        tokens,
        rateLimit: options.rateLimit ? { perMinute: options.perMinute, perHour: options.perHour } : false,
        listOrder: options.listOrder,
        defaultDurationMs: options.duration,
        deleteDelayMs: options.deleteDelay,
        ...(options.typeDuration === undefined ? {} : { durationsByType: options.typeDuration }),
        ...(options.background === undefined ? {} : { background: { actionsPerSecond: options.background } }),
      });
      if (options.examples) {
        const { addExampleResources } = await import('../../simulator/example-resources.js');
        addExampleResources(simulator);
      }
      printJson({ url: simulator.url, tokens: tokens.length });
      if (!isQuiet(command))
        process.stderr.write(
          `simulator listening on ${simulator.url}\n` +
            `  export DIGITALOCEAN_API_URL=${simulator.url} DIGITALOCEAN_TOKEN=${tokens[0]}\n` +
            `  curl -s -XPOST ${simulator.url}/_sim/actions -d '{"kind":"droplet","resourceId":1,"durationMs":30000}' -H 'content-type: application/json'\n`,
        );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await simulator.close();
    });
}
