import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { loadCliConfig } from '../context.js';
import { isQuiet } from '../global-options.js';
import { positiveInteger } from '../parsers.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('simulator + worker + a batch of droplet and image watches; prints outcomes as they arrive')
    .option('--count <n>', 'how many actions to watch', positiveInteger('--count'), 12)
    .action(async (options: { count: number }, command: Command) => {
      const { config } = loadCliConfig();
      const [{ runDemo }, { assertRedisReachable }] = await Promise.all([
        import('../../demo/demo.js'),
        import('../../support/redis.js'),
      ]);
      await assertRedisReachable(config.redisUrl);
      // --quiet: the outcomes on stdout only, without the progress and webhook lines.
      const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
      await runDemo({
        redisUrl: config.redisUrl,
        count: options.count,
        ...(isQuiet(command) ? { progress: silent } : {}),
      });
    });
}
