import type { Command } from 'commander';
import { redisVariables } from '../../config/redis-target.js';
import { loadCliConfig } from '../context.js';
import { positiveInteger } from '../parsers.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('simulator + worker + a batch of droplet and image watches; prints outcomes as they arrive')
    .option('--count <n>', 'how many actions to watch', positiveInteger('--count'), 12)
    .action(async (options: { count: number }) => {
      const { config } = loadCliConfig();
      const [{ runDemo }, { assertRedisReachable }] = await Promise.all([
        import('../../demo/demo.js'),
        import('../../support/redis.js'),
      ]);
      await assertRedisReachable(config.redis);
      await runDemo({ redis: redisVariables(process.env), count: options.count });
    });
}
