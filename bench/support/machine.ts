import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Redis } from '../../src/support/redis.js';

export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  os: string;
  node: string;
  redis: string;
  /** Hashes with a longer value lose their compact encoding: it decides the size of every job hash. */
  redisHashMaxListpackValue: string;
  date: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAtStart: number;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {
    // not Linux: fall through to what Node knows
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function totalMemory(): string {
  try {
    const match = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) return `${(Number(match[1]) / 1024 / 1024).toFixed(1)} GiB`;
  } catch {
    // not Linux
  }
  return `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`;
}

export async function describeMachine(redis: Redis): Promise<Machine> {
  const server = await redis.info('server');
  const redisVersion = /^redis_version:(.+)$/m.exec(server)?.[1]?.trim() ?? 'unknown';
  // Managed Redis services often refuse CONFIG.
  const listpack = (await redis.config('GET', 'hash-max-listpack-value').catch(() => [])) as string[];
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memory: totalMemory(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: redisVersion,
    redisHashMaxListpackValue: listpack[1] ?? 'unknown',
    date: new Date().toISOString(),
    loadAtStart: os.loadavg()[0] ?? Number.NaN,
  };
}
