import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/demo.js';
import { REDIS_ENV } from './support/stack.js';

function collector(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

describe('npm run demo', () => {
  it('ends every watch as its action did, runs the blue-green chain to completed, and verifies every webhook', async () => {
    const out = collector();
    const progress = collector();
    const count = 6;
    const result = await runDemo({
      redis: REDIS_ENV,
      count,
      maxDurationMs: 1_500,
      out: out.stream,
      progress: progress.stream,
    });
    // Action i errors when i % 5 === 3 (one of six), and one watch names an action that does not exist.
    expect(result.outcomes).toEqual({ completed: 5, errored: 1, not_found: 1, timed_out: 0, cancelled: 0 });
    expect(result.chain).toBe('completed');
    // One message per watch, one per chain step's action and one for the chain.
    expect(result.webhooksVerified).toBe(count + 1 + 5);
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => 'watch' in line)).toHaveLength(count + 1);
    expect(lines.filter((line) => 'chain' in line)).toEqual([
      expect.objectContaining({
        outcome: 'completed',
        steps: ['snapshot:completed', 'green:completed', 'move-ip:completed', 'retire-blue:completed'],
      }),
    ]);
    expect(progress.text()).toMatch(/blue-green completed/);
    expect(progress.text()).not.toMatch(/SIGNATURE REJECTED/);
  }, 90_000);
});
