/** Rounds in a row whose pages missed a watch they should have held. */
export const MAX_MISSED_ROUNDS = 3;

/**
 * Per watch, the rounds in a row whose pages should have held its action but did not: its
 * recorded place is stale or the estimate was off, so it is searched for again, and left to its
 * own GET only after `MAX_MISSED_ROUNDS`.
 */
export class MissedRounds {
  private readonly rounds = new Map<string, number>();

  /** Counts a miss: 'give-up' once the watch has missed too many rounds in a row (the count restarts). */
  miss(watchId: string): 'search-again' | 'give-up' {
    const rounds = (this.rounds.get(watchId) ?? 0) + 1;
    if (rounds >= MAX_MISSED_ROUNDS) {
      this.rounds.delete(watchId);
      return 'give-up';
    }
    this.rounds.set(watchId, rounds);
    return 'search-again';
  }

  /** A page held it. */
  seen(watchId: string): void {
    this.rounds.delete(watchId);
  }

  /** Forgets every count (watches come and go; a stale count only delays a GET by a round). */
  clear(): void {
    this.rounds.clear();
  }
}
