/** Exit codes of the CLI. `wait` maps each outcome to its own code. */
export const EXIT = {
  ok: 0,
  failure: 1,
  errored: 2,
  not_found: 3,
  timed_out: 4,
  cancelled: 5,
  interrupted: 130,
} as const;
