const KIB = 1024;
const MIB = 1024 * 1024;

export function formatInteger(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function formatNumber(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Bytes exactly up to a few KiB (the per-watch figures), MiB beyond. */
export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) >= MIB) return `${formatNumber(bytes / MIB, 1)} MiB`;
  return `${formatInteger(bytes)} B`;
}

export function formatKib(bytes: number): string {
  return `${formatNumber(bytes / KIB, 2)} KiB`;
}

/** Milliseconds below a second, seconds above (two decimals under 10 s). */
export function formatMs(ms: number): string {
  const size = Math.abs(ms);
  if (size < 1000) return `${formatInteger(ms)} ms`;
  return `${formatNumber(ms / 1000, size < 10_000 ? 2 : 1)} s`;
}

export function formatSignedMs(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${formatMs(Math.abs(ms))}`;
}

export function formatPercent(fraction: number): string {
  return `${formatNumber(fraction * 100, 1)} %`;
}

/** A share of one CPU core, e.g. `0.92 cores`. */
export function formatCores(share: number): string {
  return `${formatNumber(share, 2)} cores`;
}

export const MIB_BYTES = MIB;
