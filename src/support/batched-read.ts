import type { ChainableCommander } from 'ioredis';
import type { Redis } from './redis.js';

/**
 * One read a repository knows how to make and decode, so that a caller can make reads of several
 * repositories in one MULTI (one round trip, one consistent view) without knowing their keys or
 * encodings. Every key of one batch must share a slot on a cluster.
 */
export interface BatchedRead<T> {
  queue(transaction: ChainableCommander): void;
  decode(reply: unknown): T;
}

type Decoded<Reads extends readonly BatchedRead<unknown>[]> = {
  [Index in keyof Reads]: Reads[Index] extends BatchedRead<infer T> ? T : never;
};

/** Makes `reads` in one MULTI and decodes each reply; an error reply rejects with that error. */
export async function readTogether<const Reads extends readonly BatchedRead<unknown>[]>(
  redis: Redis,
  reads: Reads,
): Promise<Decoded<Reads>> {
  const transaction = redis.multi();
  for (const read of reads) read.queue(transaction);
  const replies = await transaction.exec();
  if (replies === null) throw new Error('readTogether: transaction aborted');
  return reads.map((read, index) => {
    const [error, value] = replies[index] ?? [null, undefined];
    if (error) throw error;
    return read.decode(value);
  }) as Decoded<Reads>;
}
