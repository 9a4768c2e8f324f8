import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Redis } from '../../src/support/redis.js';

/** The local TCP ports of the sockets process `pid` holds (Linux /proc). */
function localPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
    } catch {
      // closed while listing
    }
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      ports.add(Number.parseInt(local.split(':')[1] ?? '', 16));
    }
  }
  return ports;
}

/**
 * How many connections process `pid` has open to this Redis: the entries of CLIENT LIST whose
 * client port is one of the process's sockets, whatever they are named.
 */
export async function redisConnectionsOf(redis: Redis, pid: number): Promise<number> {
  const list = (await redis.call('CLIENT', 'LIST')) as string;
  const ports = localPorts(pid);
  let count = 0;
  for (const line of list.split('\n')) {
    const port = /(?:^| )addr=[^ ]*:(\d+) /.exec(line)?.[1];
    if (port !== undefined && ports.has(Number(port))) count += 1;
  }
  return count;
}
