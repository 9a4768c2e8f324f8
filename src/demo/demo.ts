import { randomBytes } from 'node:crypto';
import type { ChainOutcomeRecord } from '../chains/chain.js';
import { type ChainPlanInput, parseChainPlan } from '../chains/chain-plan.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../logging/logger.js';
import type { WatchEvent } from '../notifications/event-stream.js';
import { type ReceivedWebhook, startLocalReceiver } from '../notifications/webhooks/local-receiver.js';
import { validateTargetUrl } from '../notifications/webhooks/target-url.js';
import { Runtime } from '../runtime.js';
import { addExampleResources } from '../simulator/example-resources.js';
import { Simulator } from '../simulator/simulator.js';
import { createRedis, deleteKeysWithPrefix } from '../support/redis.js';
import type { Outcome } from '../watches/watch.js';
import type { WatchRequest } from '../watches/watch-queue.js';

export interface DemoOptions {
  /** The REDIS_* variables naming the Redis to use (see redisVariables). */
  redis: Record<string, string>;
  /** Watches to start; a mix of droplet and image actions. */
  count?: number;
  /** Longest simulated action, ms. */
  maxDurationMs?: number;
  out?: NodeJS.WritableStream;
  progress?: NodeJS.WritableStream;
}

export interface DemoResult {
  outcomes: Record<Outcome, number>;
  polls: number;
  apiRequests: number;
  /** Webhook messages the demo's receiver got whose signature verified. */
  webhooksVerified: number;
  /** How the demo's short blue-green chain ended. */
  chain: ChainOutcomeRecord['outcome'];
}

const DROPLET_TYPES = ['create', 'reboot', 'snapshot', 'resize', 'power_off'];
const IMAGE_TYPES = ['transfer', 'convert'];

/**
 * A short blue-green deploy beside the watches: droplet 3164444 is snapshotted, a green droplet is
 * made from the snapshot and waited for until active, the reserved IP moves to it, blue is deleted.
 */
const BLUE_GREEN: ChainPlanInput = {
  name: 'demo-blue-green',
  steps: [
    { id: 'snapshot', run: { droplet: 3164444, type: 'snapshot', params: { name: 'web-demo' } } },
    {
      id: 'green',
      run: {
        create: {
          name: 'web-demo-green',
          region: 'ams3',
          size: 's-1vcpu-1gb',
          image: `\${steps.snapshot.imageId}`,
        },
        until: 'active',
      },
    },
    {
      id: 'move-ip',
      run: {
        reserved_ip: '203.0.113.7',
        type: 'assign',
        params: { droplet_id: `\${steps.green.dropletId}` },
      },
    },
    { id: 'retire-blue', run: { droplet: 3164444, type: 'delete' } },
  ],
};
/** Its actions (one per step) and its own outcome: each a webhook message. */
const BLUE_GREEN_MESSAGES = BLUE_GREEN.steps.length + 1;

/**
 * The whole product in one process: a simulator, a worker and a batch of watches, with a live
 * progress line and each outcome printed as it arrives. Uses a private key prefix and removes it.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = options.out ?? process.stdout;
  const progress = options.progress ?? process.stderr;
  const count = options.count ?? 12;
  const maxDurationMs = options.maxDurationMs ?? 12_000;
  const simulator = await Simulator.start({ tokens: ['demo-token'], defaultDurationMs: 2_000 });
  addExampleResources(simulator);
  const tty = 'isTTY' in progress && progress.isTTY === true;
  // A receiver on loopback shows each signed delivery as it lands (hence WEBHOOK_ALLOW_PRIVATE).
  const webhooks: ReceivedWebhook[] = [];
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const receiver = await startLocalReceiver({
    secret,
    onMessage: (message) => {
      webhooks.push(message);
      const { type, data } = (message.payload ?? {}) as {
        type?: string;
        data?: { watch?: { id?: string }; chain?: { id?: string } };
      };
      const verdict = message.verified ? 'signature verified' : 'SIGNATURE REJECTED';
      const subject = data?.watch?.id ?? data?.chain?.id ?? '?';
      progress.write(
        `${tty ? '\r\x1b[2K' : ''}[webhook] ${type ?? '?'} ${subject} ${message.webhookId} ${verdict}\n`,
      );
    },
  });
  const config = loadConfig({
    ...options.redis,
    DIGITALOCEAN_API_URL: simulator.url,
    DIGITALOCEAN_TOKEN: 'demo-token',
    ACTIONWATCH_PREFIX: `actionwatch-demo-${process.pid}-${Date.now()}`,
    POLL_MIN_INTERVAL: '1s',
    POLL_MAX_INTERVAL: '5s',
    WATCH_TIMEOUT: '2m',
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: secret,
    WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  const runtime = new Runtime(config, createLogger({ level: 'error' }));
  try {
    await runtime.startWorker({ concurrency: 16 });
    await runtime.startChainWorker();
    const requests: WatchRequest[] = [];
    for (let i = 0; i < count; i += 1) {
      const droplet = i % 2 === 0;
      const types = droplet ? DROPLET_TYPES : IMAGE_TYPES;
      const action = simulator.createAction({
        kind: droplet ? 'droplet' : 'image',
        resourceId: (droplet ? 3_164_000 : 7_555_000) + i,
        type: types[Math.floor(i / 2) % types.length] as string,
        durationMs: Math.round(2_000 + ((i * 7919) % 1000) * (maxDurationMs / 1000)),
        result: i % 5 === 3 ? 'errored' : 'completed',
      });
      requests.push({
        kind: droplet ? 'droplet' : 'image',
        resourceId: action.resource_id ?? 0,
        actionId: action.id,
      });
    }
    // One action that does not exist, to show not_found.
    requests.push({ kind: 'droplet', resourceId: 3_999_999, actionId: 999_999_999 });

    // Outcomes from the process's event feed, followed before the first watch is enqueued. The
    // chain's own step watches end there too: only the demo's watches are counted as such.
    const arrived: WatchEvent[] = [];
    let chainEnded: ChainOutcomeRecord | undefined;
    let wake: (() => void) | undefined;
    const demoWatches = new Set<string>();
    await runtime.events.subscribe({
      onEvents: (events) => {
        for (const event of events) {
          if (event.subject === 'watch' && demoWatches.has(event.record.watch.id)) arrived.push(event);
          if (event.subject === 'chain') chainEnded = event.record;
        }
        wake?.();
        return true;
      },
    });
    const watched = await runtime.watches.watchMany(requests);
    for (const { watch } of watched) demoWatches.add(watch.id);
    const total = watched.length;
    const chain = await runtime.chains().submit(parseChainPlan(BLUE_GREEN, validateTargetUrl));
    let chainShown = false;
    const outcomes: Record<Outcome, number> = {
      completed: 0,
      errored: 0,
      not_found: 0,
      timed_out: 0,
      cancelled: 0,
    };
    let ended = 0;
    let polls = 0;
    const started = Date.now();
    const line = () => {
      const stats = simulator.stats();
      const parts = Object.entries(outcomes)
        .filter(([, n]) => n > 0)
        .map(([outcome, n]) => `${n} ${outcome}`);
      const deploy = chainEnded === undefined ? 'blue-green running' : `blue-green ${chainEnded.outcome}`;
      return `[demo] ${ended}/${total} ended${parts.length ? ` · ${parts.join(' · ')}` : ''} · ${deploy} · ${stats.requests} API requests · ${((Date.now() - started) / 1000).toFixed(0)}s`;
    };
    progress.write(`${line()}\n`);
    while (ended < total || !chainShown) {
      if (chainEnded !== undefined && !chainShown) {
        chainShown = true;
        const steps = chainEnded.steps.map((step) => `${step.id}:${step.status}`);
        out.write(`${JSON.stringify({ chain: chain.chain.id, outcome: chainEnded.outcome, steps })}\n`);
        progress.write(tty ? `\r${line()}` : `${line()}\n`);
        continue;
      }
      if (arrived.length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 1_000);
        });
      }
      const events = arrived.splice(0);
      for (const event of events) {
        const { record } = event;
        ended += 1;
        outcomes[record.outcome] += 1;
        polls += record.watch.polls;
        out.write(
          `${JSON.stringify({
            outcome: record.outcome,
            watch: record.watch.id,
            type: record.action?.type ?? null,
            status: record.action?.status ?? null,
            polls: record.watch.polls,
          })}\n`,
        );
      }
      progress.write(tty ? `\r${line()}` : events.length > 0 ? `${line()}\n` : '');
    }
    if (tty) progress.write('\n');
    progress.write(`[demo] all ${total} watches ended in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    // The last outcomes' messages may still be on their way.
    const webhooksDue = Date.now() + 15_000;
    const messages = total + BLUE_GREEN_MESSAGES;
    while (webhooks.length < messages && Date.now() < webhooksDue)
      await new Promise((r) => setTimeout(r, 100));
    const webhooksVerified = webhooks.filter((message) => message.verified).length;
    progress.write(`[demo] ${webhooksVerified}/${messages} webhooks delivered with a verified signature\n`);
    return {
      outcomes,
      polls,
      apiRequests: simulator.stats().requests,
      webhooksVerified,
      chain: (chainEnded as ChainOutcomeRecord).outcome,
    };
  } finally {
    await runtime.close();
    await receiver.close();
    const cleaner = createRedis(config.redis);
    await deleteKeysWithPrefix(cleaner, config.prefix).catch(() => {});
    cleaner.disconnect();
    await simulator.close();
  }
}
