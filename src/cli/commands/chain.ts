import { type Command, Option } from 'commander';
import type { ChainOutcome } from '../../chains/chain.js';
import { type ChainPlanInput, parseChainPlan, readChainPlanFile } from '../../chains/chain-plan.js';
import { InputError } from '../../errors/input-error.js';
import { validateTargetUrl } from '../../notifications/webhooks/target-url.js';
import { parseRunKey } from '../../runs/run-request.js';
import { EXIT } from '../cli-error.js';
import { loadCliConfig, printJson, withRuntime } from '../context.js';
import { interruptible } from '../interruptible.js';
import { chainStatus, runningWatchIds, withStatus } from '../status-line.js';
import { noticeWhenNoWorker, noWorkerMessage } from '../worker-presence.js';

interface ChainCommandOptions {
  key?: string;
  wait?: boolean;
  withWorker?: boolean;
  dryRun?: boolean;
  output?: 'text' | 'json';
}

export const CHAIN_EXIT_CODES: Record<ChainOutcome, number> = {
  completed: EXIT.ok,
  errored: EXIT.errored,
  not_found: EXIT.not_found,
  timed_out: EXIT.timed_out,
  cancelled: EXIT.cancelled,
  rejected: EXIT.failure,
};

export function registerChain(program: Command): void {
  program
    .command('chain')
    .description('run a plan of actions step by step (JSON or YAML); prints the chain as JSON')
    .argument('<file>', 'the plan: .json, .yaml/.yml, or - for stdin')
    .option(
      '--key <key>',
      'submitting the same plan with the same key again joins the chain instead of running it twice',
    )
    .option('--wait', 'block until the chain ends, print its outcome record (exit codes as wait)')
    .option('--with-worker', 'run a worker (watches and chains) in this process too')
    .addOption(
      new Option(
        '--dry-run',
        'check the plan and print its steps, API calls and a request estimate; sends and stores nothing',
      ).conflicts(['wait', 'withWorker']),
    )
    .addOption(
      new Option('--output <format>', 'with --dry-run: text (default) or json (one object)').choices([
        'text',
        'json',
      ]),
    )
    .addHelpText(
      'after',
      [
        '',
        'A plan (YAML):',
        '  name: release-42',
        '  retryPending: 10m',
        '  steps:',
        '    - id: snapshot',
        '      run: { droplet: 42, type: snapshot, params: { name: web-release-42 } }',
        '    - id: transfer',
        '      run:',
        `        - { image: "\${steps.snapshot.imageId}", type: transfer, region: ams3 }`,
        `        - { image: "\${steps.snapshot.imageId}", type: transfer, region: sfo3 }`,
        '    - id: web                     # one droplet per create run; until: active waits for its IPv4',
        '      run:',
        `        - { create: { name: web-42-ams3, region: ams3, size: s-2vcpu-4gb, image: "\${steps.snapshot.imageId}" }, until: active }`,
        '    - id: point-ip',
        `      run: { reserved_ip: 203.0.113.7, type: assign, params: { droplet_id: "\${steps.web.0.dropletId}" } }`,
        '  onFailure:                      # run only when the chain fails',
        '    - run: { droplet: 42, type: power_on }',
        '',
        `References: \${steps.<id>[.<n>].imageId|actionId|resourceId|dropletId|ipv4} (ipv4: a create`,
        'with until: active).',
        '',
        'With --dry-run, nothing is sent or stored: the steps in order, each API call (references',
        'shown as such until their step runs) and an estimate of the requests it spends.',
        '',
        'With --wait, exit codes: 0 completed, 2 errored, 3 not_found, 4 timed_out, 5 cancelled,',
        '1 rejected by DigitalOcean, bad input or failure, 130 interrupted.',
      ].join('\n'),
    )
    .action(async (file: string, options: ChainCommandOptions) => {
      const key = parseRunKey(options.key);
      const input = await readChainPlanFile(file);
      // Validated in full here, before Redis is touched; the library validates it again.
      const plan = parseChainPlan(input, validateTargetUrl);
      if (options.output !== undefined && !options.dryRun)
        throw new InputError('--output is for --dry-run (a submitted chain prints JSON)');
      if (options.dryRun) {
        // From the plan and the configuration alone: no token, no Redis, no DigitalOcean.
        const { config } = loadCliConfig();
        const { dryRunChain, formatChainDryRun } = await import('../../chains/chain-dry-run.js');
        const dryRun = dryRunChain(plan, {
          schedule: config.schedule,
          defaultTimeoutMs: config.watch.defaultTimeoutMs,
        });
        if (options.output === 'json') printJson(dryRun);
        else process.stdout.write(formatChainDryRun(dryRun));
        return;
      }
      const tokenPurpose = 'chain --with-worker needs it to start and poll actions';
      const code = await withRuntime(
        { needsToken: options.withWorker === true, tokenPurpose },
        async (runtime) => {
          const { ActionWatcher } = await import('../../library/action-watcher.js');
          const watcher = ActionWatcher.fromRuntime(runtime);
          if (options.withWorker) await watcher.startWorker({ concurrency: 4 });
          const chain = await watcher.chain(input as ChainPlanInput, key === undefined ? {} : { key });
          if (!options.wait) {
            printJson(chain);
            return EXIT.ok;
          }
          return interruptible(
            async (signal) => {
              if (!options.withWorker)
                void noticeWhenNoWorker(
                  runtime.chains().queue,
                  noWorkerMessage('chain'),
                  runtime.logger,
                  signal,
                );
              // The chain and a line per running step's action on stderr, when stderr is a terminal.
              const record = await withStatus(
                runtime.logger,
                async () => {
                  const now = await runtime.chains().get(chain.id);
                  if (now === undefined) return undefined;
                  const watches = await runtime.watches.getMany(runningWatchIds(now));
                  const byId = new Map(
                    watches.flatMap((watch) => (watch === undefined ? [] : [[watch.id, watch]])),
                  );
                  return chainStatus(now, byId, Date.now());
                },
                signal,
                () => watcher.waitForChain(chain, { signal }),
              );
              printJson(record);
              runtime.logger.info(
                { chainId: chain.id, outcome: record.outcome, reason: record.reason },
                `chain ${record.outcome}`,
              );
              return CHAIN_EXIT_CODES[record.outcome];
            },
            { subject: 'chain', ...(options.withWorker ? { worker: runtime } : {}) },
          );
        },
      );
      process.exitCode = code;
    });
}
