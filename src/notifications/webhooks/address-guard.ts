import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { InputError } from '../../errors/input-error.js';

/** A webhook target that resolves somewhere a webhook must not reach (SSRF protection). */
export class RefusedAddressError extends InputError {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly why: string,
  ) {
    super(
      `webhook host ${host} resolves to ${address} (${why}); refused. Set WEBHOOK_ALLOW_PRIVATE=true only for local development`,
    );
    this.name = 'RefusedAddressError';
  }
}

interface Range {
  network: string;
  prefix: number;
  why: string;
}

// Most specific first: the first match names the reason.
const IPV4_RANGES: Range[] = [
  { network: '169.254.169.254', prefix: 32, why: 'cloud metadata service' },
  { network: '0.0.0.0', prefix: 8, why: '"this network"' },
  { network: '10.0.0.0', prefix: 8, why: 'private network' },
  { network: '100.64.0.0', prefix: 10, why: 'carrier-grade NAT' },
  { network: '127.0.0.0', prefix: 8, why: 'loopback' },
  { network: '169.254.0.0', prefix: 16, why: 'link-local' },
  { network: '172.16.0.0', prefix: 12, why: 'private network' },
  { network: '192.0.0.0', prefix: 24, why: 'IETF protocol assignments' },
  { network: '192.0.2.0', prefix: 24, why: 'documentation' },
  { network: '192.88.99.0', prefix: 24, why: '6to4 relay' },
  { network: '192.168.0.0', prefix: 16, why: 'private network' },
  { network: '198.18.0.0', prefix: 15, why: 'benchmarking' },
  { network: '198.51.100.0', prefix: 24, why: 'documentation' },
  { network: '203.0.113.0', prefix: 24, why: 'documentation' },
  { network: '224.0.0.0', prefix: 4, why: 'multicast' },
  { network: '240.0.0.0', prefix: 4, why: 'reserved' },
];

const IPV6_RANGES: Range[] = [
  { network: 'fd00:ec2::254', prefix: 128, why: 'cloud metadata service' },
  { network: '::', prefix: 128, why: 'unspecified' },
  { network: '::1', prefix: 128, why: 'loopback' },
  { network: '100::', prefix: 64, why: 'discard-only' },
  { network: '2001:db8::', prefix: 32, why: 'documentation' },
  { network: 'fc00::', prefix: 7, why: 'unique local' },
  { network: 'fe80::', prefix: 10, why: 'link-local' },
  { network: 'fec0::', prefix: 10, why: 'site-local' },
  { network: 'ff00::', prefix: 8, why: 'multicast' },
];

function blockList(ranges: Range[], family: 'ipv4' | 'ipv6'): Array<{ list: BlockList; why: string }> {
  return ranges.map((range) => {
    const list = new BlockList();
    list.addSubnet(range.network, range.prefix, family);
    return { list, why: range.why };
  });
}

const V4 = blockList(IPV4_RANGES, 'ipv4');
const V6 = blockList(IPV6_RANGES, 'ipv6');

/** The 16 bytes of an IPv6 address (a dotted IPv4 tail allowed), or undefined if it is not one. */
function ipv6Bytes(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

function dotted(bytes: number[]): string {
  return bytes.join('.');
}

/**
 * IPv4 addresses an IPv6 address carries and that the network may route to: IPv4-mapped
 * (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
function embeddedIpv4(address: string): string | undefined {
  const bytes = ipv6Bytes(address);
  if (bytes === undefined) return undefined;
  const leadingZeros = (count: number) => bytes.slice(0, count).every((byte) => byte === 0);
  if (leadingZeros(10) && bytes[10] === 0xff && bytes[11] === 0xff) return dotted(bytes.slice(12));
  if (leadingZeros(12) && bytes.slice(12).some((byte) => byte !== 0)) return dotted(bytes.slice(12));
  const nat64 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];
  if (nat64.every((byte, index) => bytes[index] === byte)) return dotted(bytes.slice(12));
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return dotted(bytes.slice(2, 6));
  return undefined;
}

/**
 * Why an address must not receive webhooks (loopback, private, link-local, metadata, …), or
 * undefined for an ordinary public address.
 */
export function forbiddenAddressReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return V4.find(({ list }) => list.check(address, 'ipv4'))?.why;
  if (family !== 6) return 'not an IP address';
  // The IPv6 ranges first: ::1 would otherwise read as the IPv4-compatible 0.0.0.1.
  const own = V6.find(({ list }) => list.check(address.replace(/%.*$/, ''), 'ipv6'))?.why;
  if (own !== undefined) return own;
  const embedded = embeddedIpv4(address);
  const why = embedded === undefined ? undefined : forbiddenAddressReason(embedded);
  return why === undefined ? undefined : `${why}, embedded in IPv6`;
}

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The URL's host without IPv6 brackets, as DNS and `isIP` want it. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

export interface AddressGuardOptions {
  allowPrivate: boolean;
  resolver?: Resolver;
}

/**
 * Resolves a host and refuses it when ANY of its addresses is forbidden (an attacker controlling
 * DNS could otherwise mix a public and a private record). DNS failures are thrown as they are.
 */
export async function resolveAllowed(
  hostname: string,
  options: AddressGuardOptions,
): Promise<LookupAddress[]> {
  const literal = isIP(hostname);
  const addresses =
    literal !== 0
      ? [{ address: hostname, family: literal }]
      : await (options.resolver ?? systemResolver)(hostname);
  if (!options.allowPrivate) {
    for (const { address } of addresses) {
      const why = forbiddenAddressReason(address);
      if (why !== undefined) throw new RefusedAddressError(hostname, address, why);
    }
  }
  return addresses;
}

/** The check made when a target is given: refused addresses and unresolvable hosts are input errors. */
export async function assertTargetAllowed(url: string, options: AddressGuardOptions): Promise<void> {
  if (options.allowPrivate) return;
  const host = hostOf(new URL(url));
  try {
    await resolveAllowed(host, options);
  } catch (error) {
    if (error instanceof RefusedAddressError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new InputError(`webhook host ${host} could not be resolved (${code})`);
  }
}

/**
 * A `lookup` for the HTTP request itself, so the address checked is the address connected to
 * (no window for DNS to change between a check and the connection).
 */
export function guardedLookup(options: AddressGuardOptions) {
  return async (hostname: string): Promise<LookupAddress[]> => resolveAllowed(hostname, options);
}
