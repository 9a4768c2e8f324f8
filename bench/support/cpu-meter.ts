import type { Redis } from '../../src/support/redis.js';
import { readHostCpu } from './process-usage.js';
import type { WorkerProcess } from './worker-process.js';

/** CPU time spent by each party of a run, read at one instant. */
export interface CpuReading {
  atMs: number;
  workerMs: number;
  /** This process: the in-process simulator serving the worker (and the benchmark's own bookkeeping). */
  simulatorMs: number;
  /** The whole Redis server, so other clients of a shared Redis count too. */
  redisMs: number;
  hostBusyMs: number;
  hostTotalMs: number;
}

/** CPU used between two readings, as a share of one core (1 = one core busy the whole time). */
export interface CpuShares {
  elapsedMs: number;
  worker: number;
  simulator: number;
  redis: number;
  /** Busy share of the whole machine (1 = every core busy). */
  host: number;
  workerCpuMs: number;
  simulatorCpuMs: number;
  redisCpuMs: number;
}

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
}

export async function readCpu(worker: WorkerProcess, redis: Redis): Promise<CpuReading> {
  const own = process.cpuUsage();
  const host = readHostCpu();
  return {
    atMs: performance.now(),
    workerMs: worker.usage().cpuMs,
    simulatorMs: (own.user + own.system) / 1000,
    redisMs: await redisCpuMs(redis),
    hostBusyMs: host.busyMs,
    hostTotalMs: host.totalMs,
  };
}

export function cpuBetween(start: CpuReading, end: CpuReading): CpuShares {
  const elapsedMs = end.atMs - start.atMs;
  const workerCpuMs = end.workerMs - start.workerMs;
  const simulatorCpuMs = end.simulatorMs - start.simulatorMs;
  const redisCpuMs = end.redisMs - start.redisMs;
  return {
    elapsedMs,
    worker: workerCpuMs / elapsedMs,
    simulator: simulatorCpuMs / elapsedMs,
    redis: redisCpuMs / elapsedMs,
    host: (end.hostBusyMs - start.hostBusyMs) / Math.max(1, end.hostTotalMs - start.hostTotalMs),
    workerCpuMs,
    simulatorCpuMs,
    redisCpuMs,
  };
}
