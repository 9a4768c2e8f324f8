import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LuaScript } from '../src/support/lua.js';
import { hasRedisServer, type PrivateRedis, startPrivateRedis } from './support/private-redis.js';

/** Calls of EVAL and EVALSHA the server has answered since the last CONFIG RESETSTAT. */
async function scriptCalls(redis: Redis): Promise<{ eval: number; evalsha: number }> {
  const info = await redis.info('commandstats');
  const calls = (command: string) =>
    Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

// A private server: SCRIPT FLUSH and CONFIG RESETSTAT must not touch the shared one.
describe.skipIf(!hasRedisServer)('LuaScript', () => {
  let server: PrivateRedis;
  let redis: Redis;
  let observer: Redis;
  const script = new LuaScript(new URL('./support/', import.meta.url).href, 'count-calls', 1);

  beforeAll(async () => {
    server = await startPrivateRedis([]);
    redis = new Redis({ port: server.port });
    observer = new Redis({ port: server.port });
  });

  afterAll(async () => {
    await Promise.all([redis?.quit(), observer?.quit()]);
    await server?.stop();
  });

  it('sends the text once per connection, then runs by SHA', async () => {
    await observer.config('RESETSTAT');
    expect(await script.run(redis, ['calls'], [1])).toBe(1);
    expect(await script.run(redis, ['calls'], [2])).toBe(3);
    expect(await script.run(redis, ['calls'], [3])).toBe(6);
    expect(await scriptCalls(observer)).toEqual({ eval: 1, evalsha: 2 });
  });

  it('after SCRIPT FLUSH, loads the text again on NOSCRIPT and goes on by SHA', async () => {
    await observer.script('FLUSH');
    await observer.config('RESETSTAT');
    expect(await script.run(redis, ['calls'], [10])).toBe(16);
    expect(await script.run(redis, ['calls'], [10])).toBe(26);
    // The EVALSHA refused with NOSCRIPT, the EVAL that loaded it, then the next call by SHA.
    expect(await scriptCalls(observer)).toEqual({ eval: 1, evalsha: 2 });
    expect(await observer.script('EXISTS', script.sha)).toEqual([1]);
  });

  it('a duplicate of a client gets the script defined on it too', async () => {
    const copy = redis.duplicate();
    try {
      expect(await script.run(copy, ['calls'], [1])).toBe(27);
    } finally {
      await copy.quit();
    }
  });

  it('refuses a call with the wrong number of keys, before sending anything', async () => {
    await expect(script.run(redis, ['a', 'b'], [1])).rejects.toThrow('count-calls.lua takes 1 keys, got 2');
  });

  it('refuses a second script under a name already taken', () => {
    expect(() => new LuaScript(new URL('./support/', import.meta.url).href, 'count-calls', 1)).toThrow(
      'two Lua scripts are named count-calls',
    );
  });
});
