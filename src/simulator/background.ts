import { RESOURCE_KINDS, type ResourceKind } from '../digitalocean/models.js';
import type { BackgroundOptions } from './options.js';
import { AVAILABLE_REGION_SLUGS } from './regions.js';
import type { SimulatorState } from './simulator-state.js';

/**
 * Other people's work on the same account: actions on resources nobody asked about keep
 * appearing, so totals grow and list pages shift under a client that pages through them.
 * Paced by real time (a fake clock would never tick), on an unref'd timer.
 */

const DROPLET_TYPES = ['reboot', 'power_cycle', 'shutdown', 'power_on', 'power_off', 'enable_ipv6', 'rename'];
const IMAGE_TYPES = ['transfer', 'convert'];
// Far from the ids tests and users pick, so background work never lands on their resources.
const FIRST_BACKGROUND_DROPLET = 700_000_000;
const FIRST_BACKGROUND_IMAGE = 170_000_000;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

export class BackgroundActivity {
  private timer: NodeJS.Timeout | undefined;
  private carry = 0;
  private lastTick = 0;
  private nextDroplet = FIRST_BACKGROUND_DROPLET;
  private nextImage = FIRST_BACKGROUND_IMAGE;
  private readonly kinds: readonly ResourceKind[];

  constructor(
    private readonly state: SimulatorState,
    private readonly options: BackgroundOptions,
  ) {
    if (!(options.actionsPerSecond > 0) || !Number.isFinite(options.actionsPerSecond)) {
      throw new Error('background.actionsPerSecond must be a positive number');
    }
    this.kinds = options.kinds && options.kinds.length > 0 ? options.kinds : RESOURCE_KINDS;
  }

  start(): void {
    if (this.timer !== undefined) return;
    const intervalMs = Math.min(1000, Math.max(20, 1000 / this.options.actionsPerSecond));
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = performance.now();
    this.carry += ((now - this.lastTick) / 1000) * this.options.actionsPerSecond;
    this.lastTick = now;
    // After a stall (a blocked event loop), catch up by at most a second's worth.
    this.carry = Math.min(this.carry, Math.max(1, this.options.actionsPerSecond));
    while (this.carry >= 1) {
      this.carry -= 1;
      this.createOne();
    }
  }

  private createOne(): void {
    const kind = pick(this.kinds);
    const store = this.state.store;
    let resourceId: number;
    if (kind === 'droplet') {
      resourceId = store.freshResourceId('droplet', this.nextDroplet);
      this.nextDroplet = resourceId + 1;
    } else {
      resourceId = store.freshResourceId('image', this.nextImage);
      this.nextImage = resourceId + 1;
    }
    this.state.createAction({
      kind,
      resourceId,
      type: pick(kind === 'droplet' ? DROPLET_TYPES : IMAGE_TYPES),
      region: pick(AVAILABLE_REGION_SLUGS),
    });
  }
}
