/**
 * What the simulator keeps about each kind of resource besides its actions (ActionStore holds
 * one of these on the resource's record). Resources seen only through their actions get
 * defaults the first time something reads them.
 */

export interface DropletRecord {
  readonly name: string;
  readonly sizeSlug: string;
  /** The image slug or id the droplet was created from. */
  readonly image: string | number;
  readonly tags: readonly string[];
  readonly createdAtIso: string;
  /** Its `create` action: `new` until that completes, then `active`. None: active from the start. */
  readonly createActionId: number | undefined;
  /** Volumes attached by completed attach actions, in attach order. */
  readonly volumeIds: string[];
}

export interface VolumeRecord {
  readonly name: string;
  readonly description: string;
  sizeGigabytes: number;
  readonly filesystemType: string;
  readonly filesystemLabel: string;
  readonly tags: readonly string[];
  readonly createdAtIso: string;
  /** Droplets it is attached to (completed attach actions, less completed detaches). */
  readonly dropletIds: number[];
}

/** A reserved (floating) IPv4 address or a reserved IPv6 address. */
export interface AddressRecord {
  readonly createdAtIso: string;
  /** The droplet a completed assign action gave it to. */
  dropletId: number | null;
  readonly projectId: string;
}

export interface ShareRecord {
  readonly name: string;
  sizeGib: number;
  readonly vpcIds: string[];
  readonly performanceTier: string | undefined;
  readonly createdAtMs: number;
  readonly createdAtIso: string;
  /** `CREATING` until then, `ACTIVE` after. */
  readonly activeAtMs: number;
}
