import { createServer } from 'node:net';
import { EventStream } from '../../src/notifications/event-stream.js';
import { ActionFactory, type ActionSpec, type StartedAction, seededRandom } from '../support/actions.js';
import type { BenchEnvironment } from '../support/bench-environment.js';
import { formatMs } from '../support/format.js';
import { type ProcessUsage, readProcessUsage } from '../support/process-usage.js';
import { redisConnectionsOf } from '../support/redis-clients.js';
import { percentile } from '../support/statistics.js';
import { sleep, waitFor } from '../support/timing.js';
import { WorkerProcess } from '../support/worker-process.js';
import {
  CountingStream,
  idChecksum,
  unlimitedAgent,
  type WaitAnswer,
  waitUntilDone,
} from './load-clients.js';

export interface ApiSettings {
  /** Concurrent long-polls, one per watched action. */
  waiters: number;
  /** Concurrent SSE streams, each expected to receive every outcome. */
  streams: number;
  /** Actions end spread evenly over this span, after the warm-up. */
  spanMs: number;
  /** Time for every client to connect before the first action ends. */
  warmupMs: number;
  /** The CLI entry point of the build measured (this build's by default). */
  cliMain: string | undefined;
  /** Streams whose per-event arrival times are kept (the others only count). */
  latencyStreams: number;
}

export interface ApiRun {
  settings: ApiSettings;
  redisConnectionsMax: number;
  redisConnectionsIdle: number;
  wakeUp: { p50: number; p95: number; max: number };
  streamLatency: { p50: number; p95: number; max: number };
  answeredRight: number;
  answeredWrong: number;
  unanswered: number;
  repolls: number;
  streamsComplete: number;
  streamsIncomplete: number;
  streamReconnects: number;
  outOfOrder: number;
  delivered: number;
  deliveryWindowMs: number;
  eventsPerSecond: number;
  serverCpuMs: number;
  serverCpuMsPerEvent: number;
  serverPeakRssBytes: number;
  serverRssAtEndBytes: number;
  /** Once every client was connected, before any action ended. */
  serverRssWithClientsBytes: number;
  /** The highest once-a-second RSS sample, and when (ms after the clients were connected; negative: during setup). */
  serverRssHighestSampled: { bytes: number; afterStartMs: number };
  shutdownMs: number;
  /** Streams whose response the server ended when told to stop. */
  streamsEndedAtShutdown: number;
  feedMetrics: string[];
  serverLog: Map<string, number>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function summary(values: number[]) {
  return { p50: percentile(values, 50), p95: percentile(values, 95), max: Math.max(...values) };
}

/** The time (Date.now() clock of this machine) each watch's outcome entry was added to the stream. */
async function outcomeTimes(env: BenchEnvironment, prefix: string) {
  const stream = new EventStream(env.redis, prefix);
  const times = new Map<string, number>();
  let checksum = 0;
  let cursor = '0-0';
  for (;;) {
    const events = await stream.readAfter(cursor, 1000);
    if (events.length === 0) break;
    for (const event of events) {
      times.set(event.watchId, Number(event.id.split('-')[0]));
      checksum += idChecksum(event.id);
    }
    cursor = (events.at(-1) as { id: string }).id;
  }
  return { times, checksum, count: times.size };
}

/**
 * One `actionwatch serve --with-worker` against the simulator: `waiters` long-polls (one per
 * watched action) and `streams` SSE streams open while the actions end over `spanMs`.
 */
export async function runApi(
  env: BenchEnvironment,
  settings: ApiSettings,
  progress: (line: string) => void,
): Promise<ApiRun> {
  const prefix = env.newPrefix('api');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await WorkerProcess.spawn(
    env.configEnv(prefix, {
      OBSERVE_MODE: 'batched',
      WATCH_TIMEOUT: '1h',
      LOG_LEVEL: process.env.BENCH_SERVER_LOG_LEVEL ?? 'warn',
      // Profiling the server (--trace-gc, a --require'd memory sampler) without changing the harness.
      ...(process.env.BENCH_SERVER_NODE_OPTIONS === undefined
        ? {}
        : { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS }),
    }),
    ['serve', '--with-worker', '--port', String(port)],
    [],
    settings.cliMain,
  );
  const agent = unlimitedAgent();
  const streams: CountingStream[] = [];
  let sampling = true;
  try {
    await waitFor(
      'the server to answer /healthz',
      async () => {
        if (server.hasExited) throw new Error(`the server exited at start:\n${server.lastLog()}`);
        const response = await fetch(`${base}/healthz`).catch(() => undefined);
        await response?.arrayBuffer();
        return response?.ok === true;
      },
      30_000,
    );
    const redisConnectionsIdle = await redisConnectionsOf(env.redis, server.pid);
    let redisConnectionsMax = redisConnectionsIdle;
    /** What the server held a second at a time: when its RSS peaked, and doing what. */
    const timeline: Array<{ atMs: number; rssBytes: number }> = [];
    const sampler = (async () => {
      while (sampling) {
        const count = await redisConnectionsOf(env.redis, server.pid).catch(() => 0);
        redisConnectionsMax = Math.max(redisConnectionsMax, count);
        timeline.push({ atMs: Date.now(), rssBytes: readProcessUsage(server.pid).rssBytes });
        await sleep(1_000);
      }
    })();

    // Actions end evenly over the span, after the warm-up; one in ten errored.
    const random = seededRandom(12);
    const specs: ActionSpec[] = Array.from({ length: settings.waiters }, (_, i) => ({
      durationMs: Math.round(settings.warmupMs + ((i + random()) / settings.waiters) * settings.spanMs),
      result: random() < 0.1 ? 'errored' : 'completed',
    }));
    const actions: StartedAction[] = new ActionFactory(env.simulator, seededRandom(13)).start(specs);
    for (let start = 0; start < actions.length; start += 1000) {
      const watches = actions
        .slice(start, start + 1000)
        .map(({ kind, resourceId, actionId }) => ({ kind, resourceId, actionId }));
      const response = await fetch(`${base}/v1/watches/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ watches }),
      });
      // Read every answer: one left unread holds its connection, and the server's shutdown, open.
      const answer = await response.text();
      if (response.status !== 201) throw new Error(`POST /v1/watches/batch: ${response.status} ${answer}`);
    }
    progress(
      `api: ${actions.length} watches enqueued; opening ${settings.streams} streams and ${settings.waiters} long-polls`,
    );

    for (let i = 0; i < settings.streams; i++) {
      const stream = new CountingStream(agent, `${base}/v1/events`, i < settings.latencyStreams);
      streams.push(stream);
      stream.open();
    }
    await waitFor('every stream to connect', () => streams.every((stream) => stream.connected), 60_000, 200);
    const deadline = Date.now() + settings.warmupMs + settings.spanMs + 180_000;
    const answers: Promise<WaitAnswer>[] = actions.map((action) =>
      waitUntilDone(agent, base, action.watchId, deadline),
    );
    const cpuBefore: ProcessUsage = readProcessUsage(server.pid);
    const rssWithClientsBytes = cpuBefore.rssBytes;
    const started = Date.now();
    progress(
      `api: clients connected; actions end over the next ${Math.round((settings.warmupMs + settings.spanMs) / 1000)} s`,
    );
    const ticker = setInterval(() => {
      const delivered = streams.reduce((sum, stream) => sum + stream.received, 0);
      progress(
        `api: ${Math.round((Date.now() - started) / 1000)} s: ${delivered} stream events delivered, ${redisConnectionsMax} Redis connections at most`,
      );
    }, 30_000);
    const settled = await Promise.all(answers);
    await waitFor(
      'every stream to receive every event',
      () => streams.every((stream) => stream.received >= actions.length),
      Math.max(10_000, deadline - Date.now()),
      500,
    ).catch(() => progress('api: some streams did not receive every event before the deadline'));
    clearInterval(ticker);
    const cpuAfter = readProcessUsage(server.pid);
    const feedMetrics = (await (await fetch(`${base}/metrics`)).text())
      .split('\n')
      .filter((line) => line.startsWith('actionwatch_event_feed'));
    sampling = false;
    await sampler;

    const recorded = await outcomeTimes(env, prefix);
    const expected = new Map(actions.map((action) => [action.watchId, action.result]));
    const wakeUps: number[] = [];
    let answeredRight = 0;
    let answeredWrong = 0;
    let unanswered = 0;
    let repolls = 0;
    let lastDelivery = 0;
    for (const answer of settled) {
      repolls += answer.requests - 1;
      if (answer.status !== 200) {
        unanswered += 1;
        continue;
      }
      if (answer.outcome === expected.get(answer.watchId)) answeredRight += 1;
      else answeredWrong += 1;
      const at = recorded.times.get(answer.watchId);
      if (at !== undefined) wakeUps.push(answer.answeredAtMs - at);
      lastDelivery = Math.max(lastDelivery, answer.answeredAtMs);
    }
    const complete = streams.filter(
      (stream) => stream.received === recorded.count && stream.checksum === recorded.checksum,
    ).length;
    for (const stream of streams) lastDelivery = Math.max(lastDelivery, stream.lastDeliveryAtMs);
    const delivered =
      answeredRight + answeredWrong + streams.reduce((sum, stream) => sum + stream.received, 0);
    const firstOutcome = Math.min(...recorded.times.values());
    const deliveryWindowMs = lastDelivery - firstOutcome;
    const serverCpuMs = cpuAfter.cpuMs - cpuBefore.cpuMs;
    const highest = timeline.reduce((top, sample) => (sample.rssBytes > top.rssBytes ? sample : top), {
      atMs: started,
      rssBytes: 0,
    });

    const streamReconnects = streams.reduce((sum, stream) => sum + stream.reconnects, 0);
    // SIGTERM with every stream still open: the server ends them and exits.
    for (const stream of streams) stream.stopReconnecting();
    const stopping = Date.now();
    await server.stop();
    const shutdownMs = Date.now() - stopping;
    const streamsEndedAtShutdown = streams.filter((stream) => stream.endedByServer).length;
    if (shutdownMs > 5_000)
      progress(`api: the server took ${formatMs(shutdownMs)} to stop; its last lines:\n${server.lastLog()}`);
    return {
      settings,
      redisConnectionsMax,
      redisConnectionsIdle,
      wakeUp: summary(wakeUps),
      streamLatency: summary(streams.flatMap((stream) => stream.latenciesMs)),
      answeredRight,
      answeredWrong,
      unanswered,
      repolls,
      streamsComplete: complete,
      streamsIncomplete: streams.length - complete,
      streamReconnects,
      outOfOrder: streams.reduce((sum, stream) => sum + stream.outOfOrder, 0),
      delivered,
      deliveryWindowMs,
      eventsPerSecond: delivered / (deliveryWindowMs / 1000),
      serverCpuMs,
      serverCpuMsPerEvent: serverCpuMs / delivered,
      serverPeakRssBytes: cpuAfter.peakRssBytes,
      serverRssAtEndBytes: cpuAfter.rssBytes,
      serverRssWithClientsBytes: rssWithClientsBytes,
      serverRssHighestSampled: { bytes: highest.rssBytes, afterStartMs: highest.atMs - started },
      shutdownMs,
      streamsEndedAtShutdown,
      feedMetrics,
      serverLog: server.logKinds,
    };
  } finally {
    sampling = false;
    for (const stream of streams) stream.close();
    agent.destroy();
    await server.stop();
    await env.dropPrefix(prefix);
  }
}
