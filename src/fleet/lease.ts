import { randomUUID } from 'node:crypto';
import { LuaScript } from '../support/lua.js';
import type { Redis } from '../support/redis.js';

const RENEW = new LuaScript(import.meta.url, 'renew-lease', 1);
const RELEASE = new LuaScript(import.meta.url, 'release-lease', 1);

/**
 * A Redis lease: at most one holder at a time, taken over by anyone once the holder stops renewing
 * it (a dead worker simply lets it expire).
 */
export class Lease {
  private readonly token = randomUUID();
  private heldUntil = 0;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly ttlMs: number,
  ) {}

  /** True while this holder's last acquire or renew is known to be in force. */
  get held(): boolean {
    return Date.now() < this.heldUntil;
  }

  /** Takes the lease if free, or renews it if already ours. */
  async acquire(): Promise<boolean> {
    const started = Date.now();
    if (this.heldUntil > 0) {
      const renewed = (await RENEW.run(this.redis, [this.key], [this.token, this.ttlMs])) === 1;
      this.heldUntil = renewed ? started + this.ttlMs : 0;
      return renewed;
    }
    const taken = (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
    this.heldUntil = taken ? started + this.ttlMs : 0;
    return taken;
  }

  /** Renews the lease when a third of its TTL has passed, for work longer than a tick. */
  async keep(): Promise<boolean> {
    if (this.heldUntil - Date.now() > (this.ttlMs * 2) / 3) return true;
    return this.acquire();
  }

  async release(): Promise<void> {
    if (this.heldUntil === 0) return;
    this.heldUntil = 0;
    await RELEASE.run(this.redis, [this.key], [this.token]);
  }
}
