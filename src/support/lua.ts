import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from './redis.js';

type ScriptCommand = (...args: Array<string | number>) => Promise<unknown>;

/** Command names taken, so two scripts can never be defined under one name on a client. */
const TAKEN = new Set<string>();

/**
 * A Lua script, read once from `lua/<name>.lua` beside the module that runs it (the build copies
 * the .lua files into dist), and run by SHA.
 *
 * It is defined on each client it runs on with ioredis' `defineCommand` (BullMQ's pattern): the
 * first call on a connection sends the text, later ones EVALSHA, and a NOSCRIPT (a Redis restart,
 * a SCRIPT FLUSH, another node of a cluster) sends the text again. On a Cluster the command goes
 * to the node of its keys, which is why every script's keys share one slot (test/redis-keys.test.ts).
 */
export class LuaScript {
  readonly lua: string;
  readonly sha: string;
  /** The property ioredis adds to a client for this script. */
  private readonly command: string;

  constructor(
    moduleUrl: string,
    readonly name: string,
    /** `'variable'`: each call says how many of its arguments are keys (EVALSHA's numkeys). */
    readonly numberOfKeys: number | 'variable',
  ) {
    this.lua = readFileSync(new URL(`./lua/${name}.lua`, moduleUrl), 'utf8');
    this.sha = createHash('sha1').update(this.lua).digest('hex');
    this.command = `actionwatch:${name}`;
    if (TAKEN.has(this.command)) throw new Error(`two Lua scripts are named ${name}`);
    TAKEN.add(this.command);
  }

  async run(
    redis: Redis,
    keys: readonly string[],
    args: ReadonlyArray<string | number> = [],
  ): Promise<unknown> {
    if (this.numberOfKeys === 'variable') return this.commandOn(redis)(keys.length, ...keys, ...args);
    if (keys.length !== this.numberOfKeys) {
      throw new Error(`${this.name}.lua takes ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    return this.commandOn(redis)(...keys, ...args);
  }

  private commandOn(redis: Redis): ScriptCommand {
    const client = redis as unknown as Record<string, ScriptCommand | undefined>;
    let command = client[this.command];
    if (command === undefined) {
      redis.defineCommand(
        this.command,
        this.numberOfKeys === 'variable'
          ? { lua: this.lua }
          : { numberOfKeys: this.numberOfKeys, lua: this.lua },
      );
      command = client[this.command] as ScriptCommand;
    }
    return command.bind(redis);
  }
}
