import type { ActionKind, ResourceId } from './action-kinds.js';
import type { Simulator } from './simulator.js';

/**
 * The resources the README's examples name, made by `actionwatch sim` at start (`--no-examples`
 * leaves them out), so that every example runs verbatim against it: a droplet (the old "blue" one
 * of the blue-green example), a reserved IP and a volume, all in ams3. Other droplets and images
 * need no seed: the simulator makes them on their first action.
 */
export const EXAMPLE_RESOURCES: ReadonlyArray<{ kind: ActionKind; id: ResourceId; region: string }> = [
  { kind: 'droplet', id: 3164444, region: 'ams3' },
  { kind: 'reserved_ip', id: '203.0.113.7', region: 'ams3' },
  { kind: 'volume', id: '7724db7c-e098-11e5-b522-000f53304e51', region: 'ams3' },
];

/** Makes the README examples' resources exist in `simulator` (`actionwatch sim` and the demo). */
export function addExampleResources(simulator: Pick<Simulator, 'ensureResource'>): void {
  for (const { kind, id, region } of EXAMPLE_RESOURCES) simulator.ensureResource(kind, id, region);
}
