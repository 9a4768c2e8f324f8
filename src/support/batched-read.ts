import { LuaScript } from './lua.js';
import type { Redis } from './redis.js';

/** The read-only commands a batched read may make, each on one key. */
export type ReadCommand = 'HGET' | 'GET' | 'EXISTS';

/**
 * One read a repository knows how to make and decode, so that a caller can make reads of several
 * repositories together (one round trip, one consistent view) without knowing their keys or
 * encodings. Every key of one batch must share a slot on a cluster.
 */
export interface BatchedRead<T> {
  command: ReadCommand;
  key: string;
  args: readonly string[];
  decode(reply: unknown): T;
}

type Decoded<Reads extends readonly BatchedRead<unknown>[]> = {
  [Index in keyof Reads]: Reads[Index] extends BatchedRead<infer T> ? T : never;
};

const READ_TOGETHER = new LuaScript(import.meta.url, 'read-together', 'variable');

/** Makes `reads` in one script call and decodes each reply; an error reply rejects with that error. */
export async function readTogether<const Reads extends readonly BatchedRead<unknown>[]>(
  redis: Redis,
  reads: Reads,
): Promise<Decoded<Reads>> {
  const args = reads.flatMap((read) => [read.command, String(read.args.length), ...read.args]);
  const replies = (await READ_TOGETHER.run(
    redis,
    reads.map((read) => read.key),
    args,
  )) as unknown[];
  return reads.map((read, index) => read.decode(replies[index] ?? null)) as Decoded<Reads>;
}
