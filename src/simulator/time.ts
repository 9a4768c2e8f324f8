/** DigitalOcean timestamps carry whole seconds and a `Z`: `2020-11-14T16:29:21Z`. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
