import { readFile } from 'node:fs/promises';
import { InputError } from '../../errors/input-error.js';
import { type DropletCreateInput, parseDropletCreate } from '../../runs/droplet-create.js';
import { parseRunKey } from '../../runs/run-request.js';
import { EXIT } from '../cli-error.js';
import { printJson } from '../context.js';
import { settingsFromFlags } from '../watch-input.js';
import { inRunSession, waitForRun } from './run-session.js';

/** The flags of `run droplet create` (the run command's, of which it reads these). */
export interface CreateFlags {
  name?: string[];
  region?: string;
  size?: string;
  image?: string;
  sshKey?: string[];
  tag?: string[];
  userDataFile?: string;
  key?: string;
  wait?: boolean;
  timeout?: string;
  webhook?: string[];
  on?: string;
  withWorker?: boolean;
  tokenProfile?: string;
  param?: string[];
  retryPending?: string | boolean;
}

/** The flags only a create takes: another run refuses them. */
export const CREATE_ONLY_FLAGS = [
  ['name', '--name'],
  ['size', '--size'],
  ['image', '--image'],
  ['sshKey', '--ssh-key'],
  ['tag', '--tag'],
  ['userDataFile', '--user-data-file'],
] as const;

const FIELDS = {
  names: '--name',
  region: '--region',
  size: '--size',
  image: '--image',
  sshKeys: '--ssh-key',
  tags: '--tag',
  userData: '--user-data-file',
} as const;

/** The create request from the flags, checked (the user data file read) before anything is sent. */
export async function createInputFromFlags(flags: CreateFlags): Promise<DropletCreateInput> {
  if (flags.param !== undefined)
    throw new InputError('--param is for droplet actions; a create takes --name, --size, …');
  if (flags.retryPending !== undefined)
    throw new InputError('--retry-pending is for actions on a busy resource; a create has none');
  if (flags.name === undefined)
    throw new InputError('--name is required (repeat it to create several droplets)');
  let userData: string | undefined;
  if (flags.userDataFile !== undefined) {
    try {
      userData = await readFile(flags.userDataFile, 'utf8');
    } catch (error) {
      const why =
        (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
      throw new InputError(`--user-data-file: cannot read ${JSON.stringify(flags.userDataFile)} (${why})`);
    }
  }
  const input = {
    names: flags.name,
    region: flags.region,
    size: flags.size,
    image: flags.image,
    sshKeys: flags.sshKey,
    tags: flags.tag,
    ...(userData === undefined ? {} : { userData }),
  };
  // Validated here for one line naming the flag; the library checks the same input again.
  parseDropletCreate(input, 'run droplet create', FIELDS);
  return input as DropletCreateInput;
}

/**
 * `run droplet create`: creates the droplets, prints one line per droplet
 * `{started, recovered, key, tag, dropletId, name, actionId, watch}`; with --wait, waits on all
 * of them, prints each final create action, and exits as `wait` would for the first droplet (in
 * the order of --name) whose create did not complete.
 */
export async function runDropletCreate(flags: CreateFlags): Promise<void> {
  const input = await createInputFromFlags(flags);
  const key = parseRunKey(flags.key);
  const { timeoutMs, webhooks, tokenProfile } = await settingsFromFlags(flags);
  await inRunSession(flags, tokenProfile, async (session) => {
    const result = await session.watcher.createDroplets(input, {
      signal: session.signal,
      ...(key === undefined ? {} : { key }),
      ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
      ...(webhooks === undefined ? {} : { webhooks }),
      ...(tokenProfile === undefined ? {} : { tokenProfile }),
    });
    if (!flags.wait) {
      for (const droplet of result.droplets) {
        printJson({
          started: result.started,
          recovered: result.recovered,
          key: result.key,
          tag: result.tag,
          ...droplet,
        });
      }
      return EXIT.ok;
    }
    return waitForRun(
      session,
      result.droplets.map((droplet) => droplet.watch),
      flags,
      tokenProfile,
    );
  });
}
