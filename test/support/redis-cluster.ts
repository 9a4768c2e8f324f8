import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { HAS_REDIS_SERVER, type RedisProcess, RedisServers } from './redis-servers.js';

/** Cluster tests need redis-cli (Debian ships it with redis-server) besides redis-server. */
export const hasRedisServer =
  HAS_REDIS_SERVER && spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;

export interface ClusterNode {
  host: string;
  port: number;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs `command` on one node over a short-lived connection. */
async function ask(node: ClusterNode, ...command: string[]): Promise<unknown> {
  const redis = new Redis({ ...node, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await redis.call(command[0] as string, ...command.slice(1));
  } finally {
    redis.disconnect();
  }
}

/**
 * A Redis Cluster of real redis-server processes (RedisServers: free ports, a temporary folder):
 * `primaries` primaries, each with `replicas` replicas, made with `redis-cli --cluster create`. A
 * node that stops answering is failed over after about a second. `stop()` ends every process.
 */
export class RedisCluster {
  readonly nodes: ClusterNode[];

  private constructor(
    private readonly servers: RedisServers,
    private readonly processes: Map<number, RedisProcess>,
  ) {
    this.nodes = [...processes.keys()].map((port) => ({ host: '127.0.0.1', port }));
  }

  static async start(options: { primaries?: number; replicas?: number } = {}): Promise<RedisCluster> {
    const primaries = options.primaries ?? 3;
    const replicas = options.replicas ?? 1;
    const servers = new RedisServers('cluster');
    const processes = new Map<number, RedisProcess>();
    try {
      for (let i = 0; i < primaries * (1 + replicas); i += 1) {
        const node = await servers.server(`node-${i}`, {
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'].concat([
            '--cluster-node-timeout',
            '1000',
            // A replica however long cut off may take over: the tests kill primaries on purpose.
            '--cluster-replica-validity-factor',
            '0',
          ]),
        });
        processes.set(node.port, node);
      }
    } catch (error) {
      await servers.close();
      throw error;
    }
    const cluster = new RedisCluster(servers, processes);
    try {
      const created = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...cluster.nodes.map((node) => `${node.host}:${node.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      if (created.status !== 0)
        throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      await cluster.settled();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** `host:port,…` as REDIS_CLUSTER_NODES takes it. */
  get nodesVariable(): string {
    return this.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  }

  /** The node serving `slot` as primary now, and its replicas. */
  async shardOf(slot: number): Promise<{ primary: ClusterNode; replicas: ClusterNode[] }> {
    const live = this.nodes.filter((node) => this.processes.has(node.port));
    const shards = (await ask(live[0] as ClusterNode, 'CLUSTER', 'SHARDS')) as unknown[][];
    for (const shard of shards) {
      const fields = pairs(shard);
      const slots = fields.slots as number[];
      let owns = false;
      for (let i = 0; i + 1 < slots.length; i += 2)
        if (slot >= Number(slots[i]) && slot <= Number(slots[i + 1])) owns = true;
      if (!owns) continue;
      const members = (fields.nodes as unknown[][]).map(pairs);
      const node = (member: Record<string, unknown>) => ({ host: '127.0.0.1', port: Number(member.port) });
      const healthy = members.filter((member) => member.health === 'online');
      const primary = healthy.find((member) => member.role === 'master');
      if (primary === undefined) throw new Error(`no primary online for slot ${slot}`);
      return {
        primary: node(primary),
        replicas: healthy.filter((member) => member.role !== 'master').map(node),
      };
    }
    throw new Error(`no shard serves slot ${slot}`);
  }

  /** How many keys the slot holds, asked of its primary. */
  async keysInSlot(slot: number): Promise<number> {
    const { primary } = await this.shardOf(slot);
    return Number(await ask(primary, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot)));
  }

  /**
   * Kills (SIGKILL) the primary serving `slot` and waits until one of its replicas has taken over
   * and every live node agrees the cluster is whole again. Returns the node killed.
   */
  async killPrimaryOf(slot: number): Promise<ClusterNode> {
    const { primary, replicas } = await this.shardOf(slot);
    if (replicas.length === 0) throw new Error(`the primary of slot ${slot} has no replica to fail over to`);
    const node = this.processes.get(primary.port);
    this.processes.delete(primary.port);
    await node?.kill();
    await until(`a replica promoted for slot ${slot}`, async () => {
      const shard = await this.shardOf(slot);
      return shard.primary.port !== primary.port ? true : undefined;
    });
    await this.settled();
    return primary;
  }

  async stop(): Promise<void> {
    this.processes.clear();
    await this.servers.close();
  }

  /**
   * Every live node sees cluster_state:ok, agrees on which nodes are primaries, and reports every
   * live node online (replicas synced).
   */
  private async settled(): Promise<void> {
    const live = this.nodes.filter((node) => this.processes.has(node.port));
    await until('cluster state ok on every node', async () => {
      const views = await Promise.all(
        live.map(async (node) => {
          const info = String(await ask(node, 'CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok')) return undefined;
          const shards = (await ask(node, 'CLUSTER', 'SHARDS')) as unknown[][];
          const members = shards.flatMap((shard) => (pairs(shard).nodes as unknown[][]).map(pairs));
          const online = members.filter((member) => member.health === 'online');
          if (online.length !== live.length) return undefined;
          return online
            .filter((member) => member.role === 'master')
            .map((member) => String(member.port))
            .sort()
            .join(',');
        }),
      );
      return views.every((view) => view !== undefined && view === views[0]) ? true : undefined;
    });
  }
}

/** CLUSTER SHARDS replies as flat [name, value, …] lists. */
function pairs(list: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < list.length; i += 2) record[String(list[i])] = list[i + 1];
  return record;
}
