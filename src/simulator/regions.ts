/**
 * Region objects as DigitalOcean embeds them in every action. The slugs are exactly the
 * `region_slug` enum of the OpenAPI spec, so an image's `regions` array validates against it;
 * names, sizes and features follow what the live API returned for these regions.
 */
export interface Region {
  readonly name: string;
  readonly slug: string;
  readonly sizes: readonly string[];
  readonly features: readonly string[];
  readonly available: boolean;
}

const SIZES = [
  's-1vcpu-1gb',
  's-1vcpu-2gb',
  's-1vcpu-3gb',
  's-2vcpu-2gb',
  's-3vcpu-1gb',
  's-2vcpu-4gb',
  's-4vcpu-8gb',
  'm-1vcpu-8gb',
  's-6vcpu-16gb',
  's-8vcpu-32gb',
  's-12vcpu-48gb',
  's-16vcpu-64gb',
  's-20vcpu-96gb',
  's-24vcpu-128gb',
  's-32vcpu-192gb',
] as const;

const FEATURES = [
  'private_networking',
  'backups',
  'ipv6',
  'metadata',
  'install_agent',
  'storage',
  'image_transfer',
] as const;

// Retired regions still appear on old actions: unavailable, no sizes, fewer features.
const RETIRED_FEATURES = ['private_networking', 'backups', 'ipv6', 'metadata'] as const;

function region(name: string, slug: string, available = true): Region {
  return Object.freeze({
    name,
    slug,
    sizes: Object.freeze(available ? [...SIZES] : []),
    features: Object.freeze(available ? [...FEATURES] : [...RETIRED_FEATURES]),
    available,
  });
}

// Frozen and shared: every action view points at the same object, so 10,000 actions cost
// one region each, not 10,000 copies.
const CATALOG: ReadonlyMap<string, Region> = new Map(
  [
    region('Amsterdam 1', 'ams1', false),
    region('Amsterdam 2', 'ams2', false),
    region('Amsterdam 3', 'ams3'),
    region('Bangalore 1', 'blr1'),
    region('Frankfurt 1', 'fra1'),
    region('London 1', 'lon1'),
    region('New York 1', 'nyc1'),
    region('New York 2', 'nyc2', false),
    region('New York 3', 'nyc3'),
    region('San Francisco 1', 'sfo1', false),
    region('San Francisco 2', 'sfo2'),
    region('San Francisco 3', 'sfo3'),
    region('Singapore 1', 'sgp1'),
    region('Toronto 1', 'tor1'),
    region('Sydney 1', 'syd1'),
  ].map((r) => [r.slug, r]),
);

export const DEFAULT_REGION_SLUG = 'nyc3';

export const REGION_SLUGS: readonly string[] = [...CATALOG.keys()];

export const AVAILABLE_REGION_SLUGS: readonly string[] = [...CATALOG.values()]
  .filter((r) => r.available)
  .map((r) => r.slug);

export function isRegionSlug(slug: string): boolean {
  return CATALOG.has(slug);
}

export function regionBySlug(slug: string): Region | undefined {
  return CATALOG.get(slug);
}
