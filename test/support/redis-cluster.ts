import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { TempDir } from './temp-dir.js';

/** Whether Debian's (or any) redis-server and redis-cli are on PATH: cluster tests need both. */
export const hasRedisServer =
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;

export interface ClusterNode {
  host: string;
  port: number;
}

/** A port free now whose cluster bus port (port + 10000) is free as well. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if (
      port + 10_000 < 65_536 &&
      (await listenOnce(port + 10_000).then(
        () => true,
        () => false,
      ))
    )
      return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : port));
    });
  });
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
 * A Redis Cluster of real redis-server processes on free ports in a temporary folder: `primaries`
 * primaries, each with `replicas` replicas, made with `redis-cli --cluster create`. A node that
 * stops answering is failed over after about a second. `stop()` ends every process it started.
 */
export class RedisCluster {
  readonly nodes: ClusterNode[];
  private readonly processes = new Map<number, ChildProcess>();

  private constructor(
    private readonly dir: TempDir,
    ports: number[],
  ) {
    this.nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  static async start(options: { primaries?: number; replicas?: number } = {}): Promise<RedisCluster> {
    const primaries = options.primaries ?? 3;
    const replicas = options.replicas ?? 1;
    const ports: number[] = [];
    for (let i = 0; i < primaries * (1 + replicas); i += 1) ports.push(await freeClusterPort());
    const cluster = new RedisCluster(new TempDir('actionwatch-cluster'), ports);
    try {
      for (const port of ports) cluster.spawnNode(port);
      for (const node of cluster.nodes)
        await until(`node ${node.port} answering`, async () =>
          (await ask(node, 'PING')) === 'PONG' ? true : undefined,
        );
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
    const child = this.processes.get(primary.port);
    this.processes.delete(primary.port);
    child?.kill('SIGKILL');
    if (child !== undefined && child.exitCode === null) await once(child, 'exit');
    await until(`a replica promoted for slot ${slot}`, async () => {
      const shard = await this.shardOf(slot);
      return shard.primary.port !== primary.port ? true : undefined;
    });
    await this.settled();
    return primary;
  }

  async stop(): Promise<void> {
    const children = [...this.processes.values()];
    this.processes.clear();
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await once(child, 'exit');
      }),
    );
    this.dir.remove();
  }

  private spawnNode(port: number): void {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir.path,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1000',
        // A replica however long cut off may take over: the tests kill primaries on purpose.
        '--cluster-replica-validity-factor',
        '0',
        '--appendonly',
        'no',
        '--save',
        '',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    this.processes.set(port, child);
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
