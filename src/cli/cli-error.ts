/** Exit codes of the CLI. `wait` maps each outcome to its own code. */
export const EXIT = {
  ok: 0,
  failure: 1,
  errored: 2,
  not_found: 3,
  timed_out: 4,
  cancelled: 5,
  /** `run`/`chain`: the action was probably started, but which one it is could not be told. */
  probably_started: 6,
  interrupted: 130,
} as const;
