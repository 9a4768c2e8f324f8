import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { redisVariables } from '../../config/redis-target.js';
import { checkRedis, loadCliConfig } from '../context.js';
import { isQuiet } from '../global-options.js';
import { positiveInteger } from '../parsers.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('simulator + worker + a batch of droplet and image watches; prints outcomes as they arrive')
    .option('--count <n>', 'how many actions to watch', positiveInteger('--count'), 12)
    .action(async (options: { count: number }, command: Command) => {
      const { config, logger } = loadCliConfig();
      const [{ runDemo }] = await Promise.all([import('../../demo/demo.js'), checkRedis(config, logger)]);
      // --quiet: the outcomes on stdout only, without the progress and webhook lines.
      const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
      await runDemo({
        redis: redisVariables(process.env),
        count: options.count,
        ...(isQuiet(command) ? { progress: silent } : {}),
      });
    });
}
