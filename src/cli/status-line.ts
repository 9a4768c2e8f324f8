import type { Chain, StepStatus } from '../chains/chain.js';
import type { Logger } from '../logging/logger.js';
import { sleep } from '../support/sleep.js';
import type { Watch } from '../watches/watch.js';

/** Where the status goes: stderr, or a stand-in with the same few members in tests. */
export interface StatusStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

const ERASE_LINE = '\r\x1b[2K';
const UP_AND_ERASE = '\x1b[1A\x1b[2K';

/**
 * A few lines at the bottom of a terminal, redrawn in place: erased and drawn again on each
 * `draw`, erased by `clear` before anything else is printed. Draws nothing at all unless the
 * stream is a terminal, so piped or captured stderr is exactly what it was without it.
 */
export class StatusLine {
  private drawn = 0;
  private last: readonly string[] = [];

  constructor(private readonly stream: StatusStream) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  draw(lines: readonly string[]): void {
    if (!this.enabled) return;
    this.last = lines;
    // One column short of the width: a line that fills it would wrap and leave a line behind.
    // A pseudo-terminal with no size set says 0 columns.
    const columns = this.stream.columns !== undefined && this.stream.columns > 0 ? this.stream.columns : 80;
    const width = Math.max(20, columns - 1);
    const text = lines
      .map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line))
      .join('\n');
    this.stream.write(`${this.erase()}${text}`);
    this.drawn = lines.length;
  }

  clear(): void {
    if (!this.enabled || this.drawn === 0) return;
    this.stream.write(this.erase());
    this.drawn = 0;
  }

  /** Writes `text` (whole lines) above the status: erased first, drawn again below it. */
  print(text: string): void {
    if (!this.enabled || this.drawn === 0) {
      this.stream.write(text);
      return;
    }
    this.clear();
    this.stream.write(text);
    this.draw(this.last);
  }

  /** The cursor rests at the end of the last line drawn: back to the start of the first. */
  private erase(): string {
    if (this.drawn === 0) return '';
    return ERASE_LINE + UP_AND_ERASE.repeat(this.drawn - 1);
  }
}

/** Nowhere: where a status goes with `--quiet` or a log level above warn (as `notice` does). */
const NOWHERE: StatusStream = { isTTY: false, write: () => true };

/**
 * Runs `body` with a status from `read` on stderr beside it (when stderr is a terminal and the
 * log level lets notices through), erased before `body`'s result or error goes on.
 */
export async function withStatus<T>(
  logger: Logger,
  read: () => Promise<readonly string[] | undefined>,
  signal: AbortSignal,
  body: () => Promise<T>,
): Promise<T> {
  const stream = logger.isLevelEnabled('warn') ? process.stderr : NOWHERE;
  const done = new AbortController();
  const shown = followStatus(new StatusLine(stream), read, AbortSignal.any([signal, done.signal]));
  try {
    return await body();
  } finally {
    done.abort();
    await shown;
  }
}

let active: StatusLine | undefined;

/** The status on stderr now, if any: `notice` prints above it instead of through it. */
export function activeStatusLine(): StatusLine | undefined {
  return active;
}

/**
 * Redraws the status from `read` every `everyMs` until `signal` aborts, then erases it. A failed
 * read (a Redis hiccup) leaves the last status up: the wait beside it reports what matters.
 */
export async function followStatus(
  line: StatusLine,
  read: () => Promise<readonly string[] | undefined>,
  signal: AbortSignal,
  everyMs = 1_000,
): Promise<void> {
  if (!line.enabled) return;
  active = line;
  try {
    while (!signal.aborted) {
      // Never held up by a slow read (Redis away): the wait beside it must end when it ends.
      const lines = await untilAborted(read, signal);
      if (signal.aborted) break;
      if (lines !== undefined) line.draw(lines);
      await sleep(everyMs, signal).catch(() => {});
    }
  } finally {
    line.clear();
    if (active === line) active = undefined;
  }
}

/** What `read` answers, or undefined as soon as `signal` aborts (its listener removed either way). */
function untilAborted<T>(read: () => Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    read()
      .catch(() => undefined)
      .then((value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      });
  });
}

/** 4s, 3m05s, 2h04m: short enough for a status line. */
export function shortDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

function etaText(watch: Watch, now: number): string {
  if (watch.state === 'done') return watch.outcome ?? 'done';
  if (watch.eta === null) return watch.etaBasis === 'outlived' ? 'eta unknown (outlived)' : 'eta -';
  return `eta ~${shortDuration(Date.parse(watch.eta) - now)} (${watch.etaBasis ?? '-'})`;
}

/** Since its action started, or since it was enqueued until its first poll says when that was. */
function elapsedOf(watch: Watch, now: number): number {
  const started = Date.parse(watch.action?.started_at ?? '');
  return now - (Number.isNaN(started) ? Date.parse(watch.enqueuedAt) : started);
}

/**
 * `droplet-1-2 power_on  in-progress  elapsed 1m05s  polls 4  eta ~3m10s (learned)`: a narrow
 * terminal cuts the end, so what is read at a glance comes first.
 */
export function watchStatus(watch: Watch, now: number): string {
  const status = watch.action?.status ?? 'not polled yet';
  const type = watch.action?.type === undefined ? '' : ` ${watch.action.type}`;
  return `${watch.id}${type}  ${status}  elapsed ${shortDuration(elapsedOf(watch, now))}  polls ${watch.polls}  ${etaText(watch, now)}`;
}

const RUNNING: readonly StepStatus[] = ['starting', 'watching', 'resolving'];

/**
 * The chain on one line, then a line per action of each running step: its watch's status once
 * the action is watched (`watches` has it by watch id), what the step is doing until then.
 */
export function chainStatus(chain: Chain, watches: ReadonlyMap<string, Watch>, now: number): string[] {
  const done = chain.steps.filter((step) => step.status === 'completed').length;
  const lines = [
    `chain ${chain.name ?? chain.id}  ${chain.state}  steps ${done}/${chain.steps.length} done  elapsed ${shortDuration(now - Date.parse(chain.createdAt))}`,
  ];
  // Cleanup (onFailure) steps show like steps while they run.
  for (const step of stepsOf(chain)) {
    if (!RUNNING.includes(step.status)) continue;
    for (const run of step.runs) {
      const watch = run.watchId === undefined ? undefined : watches.get(run.watchId);
      const what =
        watch !== undefined
          ? watchStatus(watch, now)
          : `${run.kind} ${run.resourceId ?? '?'} ${run.type}  ${run.outcome ?? step.status}`;
      lines.push(`  ${step.id}: ${what}`);
    }
  }
  return lines;
}

/** The watch ids of the running steps' actions: what `chainStatus` needs read. */
export function runningWatchIds(chain: Chain): string[] {
  return stepsOf(chain)
    .filter((step) => RUNNING.includes(step.status))
    .flatMap((step) => step.runs.flatMap((run) => (run.watchId === undefined ? [] : [run.watchId])));
}

function stepsOf(chain: Chain): Chain['steps'] {
  return [...chain.steps, ...(chain.onFailure ?? [])];
}
