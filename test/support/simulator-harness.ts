import { Simulator, type SimulatorOptions } from '../../src/simulator/simulator.js';

/** Helpers for tests that talk to the simulator over real HTTP. */

// biome-ignore lint/suspicious/noExplicitAny: response JSON is inspected freely in assertions
export type Json = any;

export interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON; the raw text when it is not JSON; undefined when empty. */
  body: Json;
  text: string;
}

/** The simulator's default bearer token, which `call` sends unless told otherwise. */
export const TOKEN = 'sim-token';
export const T0 = Date.UTC(2025, 0, 6, 12, 0, 0);

export interface FakeClock {
  t: number;
  now: () => number;
  advance: (ms: number) => void;
}

/** A clock to pass as the simulator's `now`; set `t` or `advance` it. */
export function fakeClock(start = T0): FakeClock {
  const clock = {
    t: start,
    now: () => clock.t,
    advance: (ms: number) => {
      clock.t += ms;
    },
  };
  return clock;
}

export interface CallInit {
  method?: string;
  /** Defaults to TOKEN; null sends no Authorization header. */
  token?: string | null;
  /** Sent as JSON when given. */
  body?: unknown;
}

export async function call(simulator: Simulator, path: string, init: CallInit = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${simulator.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  let body: Json;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/**
 * Starts simulators for one test file and closes them all: call `closeAll` in the file's
 * afterEach.
 */
export function simulatorTracker() {
  const running: Simulator[] = [];
  return {
    async start(options: SimulatorOptions = {}): Promise<Simulator> {
      const simulator = await Simulator.start(options);
      running.push(simulator);
      return simulator;
    },
    async closeAll(): Promise<void> {
      await Promise.all(running.splice(0).map((simulator) => simulator.close()));
    },
  };
}
