import { decideFailure } from '../errors/failure-policy.js';

/**
 * Whether the sweeper may list now: after a failed account listing, lists rest for a backoff that
 * doubles with each failure in a row (from ten ticks, at most five minutes); after a failed
 * resource list, resource lists rest for the first step of it. A refusal of the token (401/403)
 * is kept: the sweeper stops on it.
 */
export class ListHealth {
  private listsFailedUntil = 0;
  private listFailures = 0;
  private resourceListsFailedUntil = 0;
  private refusal: string | undefined;

  constructor(private readonly tickMs: number) {}

  listsUsable(now: number): boolean {
    return now >= this.listsFailedUntil;
  }

  resourceListsUsable(now: number): boolean {
    return now >= this.resourceListsFailedUntil;
  }

  /** The account listing failed: returns how long lists now rest. */
  listsFailed(error: unknown, now: number): number {
    this.noteRefusal(error);
    this.listFailures++;
    const backoff = this.backoffMs(this.listFailures);
    this.listsFailedUntil = now + backoff;
    return backoff;
  }

  /** A page was read: the next failure starts the backoff afresh. */
  listsRead(): void {
    this.listFailures = 0;
  }

  resourceListFailed(error: unknown, now: number): void {
    this.noteRefusal(error);
    this.resourceListsFailedUntil = now + this.backoffMs(1);
  }

  /** Why DigitalOcean refused this token a list (401/403), if it did. */
  get refused(): string | undefined {
    return this.refusal;
  }

  private noteRefusal(error: unknown): void {
    if (decideFailure(error, 'list').response !== 'token-refused') return;
    this.refusal ??= error instanceof Error ? error.message : String(error);
  }

  private backoffMs(failures: number): number {
    return Math.min(300_000, this.tickMs * 10 * 2 ** Math.min(10, failures - 1));
  }
}
