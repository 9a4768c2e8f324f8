import { type Command, Option } from 'commander';
import { EXIT } from '../cli-error.js';
import { loadCliConfig, printJson } from '../context.js';
import type { DoctorCheck } from '../doctor-checks.js';

const MARK = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check Redis (reachable, persistence, eviction), the token (accepted, rate limit), workers per queue, the webhook secret and the API; exit 1 if a check fails',
    )
    .addOption(
      new Option('--output <format>', 'text (one line per check) or json (JSON Lines)')
        .choices(['text', 'json'])
        .default('text'),
    )
    .action(async (options: { output: 'text' | 'json' }) => {
      const { config, logger } = loadCliConfig();
      const [checks, { Runtime }] = await Promise.all([
        import('../doctor-checks.js'),
        import('../../runtime.js'),
      ]);
      const results: DoctorCheck[] = [];
      const report = (found: DoctorCheck[]) => {
        for (const result of found) {
          results.push(result);
          if (options.output === 'json') printJson(result);
          else process.stdout.write(`${MARK[result.status]}  ${result.check.padEnd(20)} ${result.detail}\n`);
        }
      };
      const redis = await checks.checkRedis(config.redis);
      report(redis);
      if (redis.some((result) => result.status === 'fail')) {
        // The token check draws on the shared budget and the worker list is in Redis: both need it.
        report([
          { check: 'token', status: 'warn', detail: 'not checked: needs Redis (the shared rate budget)' },
        ]);
      } else {
        const runtime = new Runtime(config, logger);
        try {
          const profiles = [undefined, ...Object.keys(config.digitalocean.profiles)];
          report(await Promise.all(profiles.map((profile) => checks.checkToken(runtime, profile))));
          report(await checks.checkWorkers(runtime));
        } finally {
          await runtime.close();
        }
      }
      report([checks.checkWebhookSecret(config), await checks.checkApi(config)]);
      logger.flush();
      if (results.some((result) => result.status === 'fail')) process.exitCode = EXIT.failure;
    });
}
