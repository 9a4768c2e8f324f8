import type { Chain } from '../chains/chain.js';
import type { Action } from '../digitalocean/models.js';
import type { Watch } from '../watches/watch.js';
import type { Column } from './output.js';

/** An ISO time to the second: the table is for reading, JSON keeps the milliseconds. */
function time(iso: string | null | undefined): string | undefined {
  return iso?.replace(/\.\d+Z$/, 'Z');
}

export const WATCH_COLUMNS: readonly Column<Watch>[] = [
  { header: 'ID', value: (watch) => watch.id },
  { header: 'STATE', value: (watch) => watch.state },
  { header: 'OUTCOME', value: (watch) => watch.outcome },
  { header: 'STATUS', value: (watch) => watch.action?.status },
  { header: 'TYPE', value: (watch) => watch.action?.type },
  { header: 'POLLS', value: (watch) => watch.polls },
  { header: 'ETA', value: (watch) => time(watch.eta) },
  { header: 'ENQUEUED', value: (watch) => time(watch.enqueuedAt) },
  { header: 'FINISHED', value: (watch) => time(watch.finishedAt) },
];

export const ACTION_COLUMNS: readonly Column<Action>[] = [
  { header: 'ID', value: (action) => action.id },
  { header: 'STATUS', value: (action) => action.status },
  { header: 'TYPE', value: (action) => action.type },
  { header: 'REGION', value: (action) => action.region_slug },
  { header: 'STARTED', value: (action) => time(action.started_at) },
  { header: 'COMPLETED', value: (action) => time(action.completed_at) },
];

export const CHAIN_COLUMNS: readonly Column<Chain>[] = [
  { header: 'ID', value: (chain) => chain.id },
  { header: 'NAME', value: (chain) => chain.name },
  { header: 'STATE', value: (chain) => chain.state },
  { header: 'OUTCOME', value: (chain) => chain.outcome },
  { header: 'STEP', value: (chain) => chain.currentStep ?? chain.failedStep },
  { header: 'STEPS', value: (chain) => chain.steps.length },
  { header: 'CREATED', value: (chain) => time(chain.createdAt) },
  { header: 'FINISHED', value: (chain) => time(chain.finishedAt) },
];
