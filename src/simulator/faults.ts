/**
 * Injected faults: each applies to the next `times` requests that match its method and path
 * regex, in the order the faults were injected. They are consulted only for requests that got
 * past authentication and the real rate limiter, because a fault stands for something going
 * wrong on DigitalOcean's side of an otherwise good request.
 */

export interface FaultMatch {
  /** How many matching requests this fault answers (default 1). `Infinity` keeps it armed. */
  times?: number;
  /** HTTP method to match, case-insensitive; any when absent. */
  method?: string;
  /** Tested against the URL path (no query string); any when absent. */
  path?: RegExp | string;
  /** Wait this long (real time) before answering; with `kind: 'delay'` the answer is the normal one. */
  delayMs?: number;
}

export type FaultSpec = FaultMatch &
  (
    | {
        /** Answer with this status and a DigitalOcean error body (or `body`: objects as JSON, strings as text/html). */
        kind: 'status';
        status: number;
        body?: unknown;
        /** For a 429: send `retry-after`, as DigitalOcean does for the per-minute limit. */
        retryAfterSeconds?: number;
      }
    | { kind: 'drop' }
    | { kind: 'malformed-json' }
    | { kind: 'wrong-shape'; body?: unknown }
    | { kind: 'delay'; delayMs: number }
    /**
     * The faults below let the request do what it does (a POST starts its action) and then
     * change its 2xx answer, the way a misbehaving proxy or a schema-random mock would.
     */
    /** `{"id": …}` instead of `{"action": {"id": …}}`. */
    | { kind: 'bare-action' }
    /** The answer cut off halfway: unreadable JSON. */
    | { kind: 'truncated' }
    /** These fields of the answer's action (each action, in a list) replaced: another id, resource, a negative id. */
    | { kind: 'action-fields'; fields: Record<string, unknown> }
    /**
     * A list answer's `links.pages.next` moved to another `origin` (same path and query), or
     * replaced by `link`.
     */
    | { kind: 'next-link'; origin?: string; link?: string }
  );

export type FaultKind = FaultSpec['kind'];

/** The faults that change a real answer rather than take the request's place. */
export type AnswerRewrite = Extract<
  FaultSpec,
  { kind: 'bare-action' | 'truncated' | 'action-fields' | 'next-link' }
>;

const REWRITE_KINDS = new Set<FaultKind>(['bare-action', 'truncated', 'action-fields', 'next-link']);

export function isAnswerRewrite(fault: FaultSpec): fault is AnswerRewrite {
  return REWRITE_KINDS.has(fault.kind);
}

/** The JSON text of a 2xx answer as `fault` changes it (any other text is left as it is). */
export function rewriteAnswer(fault: AnswerRewrite, text: string): string {
  if (fault.kind === 'truncated') return text.slice(0, Math.max(1, Math.floor(text.length / 2)));
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return text;
  }
  const single = body.action as Record<string, unknown> | undefined;
  switch (fault.kind) {
    case 'bare-action':
      return JSON.stringify(single ?? body);
    case 'action-fields': {
      const change = (action: unknown) => ({ ...(action as object), ...fault.fields });
      if (single !== undefined) return JSON.stringify({ ...body, action: change(single) });
      if (Array.isArray(body.actions)) return JSON.stringify({ ...body, actions: body.actions.map(change) });
      return text;
    }
    case 'next-link': {
      const links = (body.links ?? {}) as { pages?: Record<string, string> };
      const next = links.pages?.next;
      const moved =
        fault.link ??
        (next === undefined || fault.origin === undefined
          ? next
          : `${fault.origin.replace(/\/+$/, '')}${new URL(next).pathname}${new URL(next).search}`);
      if (moved === undefined) return text;
      return JSON.stringify({ ...body, links: { ...links, pages: { ...links.pages, next: moved } } });
    }
  }
}

interface ArmedFault {
  readonly spec: FaultSpec;
  readonly method: string | undefined;
  readonly path: RegExp | undefined;
  remaining: number;
}

export class FaultQueue {
  private faults: ArmedFault[] = [];

  add(spec: FaultSpec): void {
    const times = spec.times ?? 1;
    if (!(times > 0)) throw new Error('fault times must be a positive number');
    if (
      spec.kind === 'status' &&
      !(Number.isInteger(spec.status) && spec.status >= 100 && spec.status <= 599)
    ) {
      throw new Error('fault status must be an HTTP status code');
    }
    if (spec.delayMs !== undefined && !(spec.delayMs >= 0)) throw new Error('fault delayMs must be >= 0');
    this.faults.push({
      spec,
      method: spec.method?.toUpperCase(),
      path:
        spec.path === undefined ? undefined : spec.path instanceof RegExp ? spec.path : new RegExp(spec.path),
      remaining: times,
    });
  }

  clear(): void {
    this.faults = [];
  }

  get size(): number {
    return this.faults.length;
  }

  /** The first armed fault matching this request, consuming one of its uses. */
  take(method: string, path: string): FaultSpec | undefined {
    if (this.faults.length === 0) return undefined;
    for (let i = 0; i < this.faults.length; i++) {
      const fault = this.faults[i] as ArmedFault;
      if (fault.method !== undefined && fault.method !== method) continue;
      if (fault.path !== undefined) {
        fault.path.lastIndex = 0;
        if (!fault.path.test(path)) continue;
      }
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.faults.splice(i, 1);
      return fault.spec;
    }
    return undefined;
  }
}

/** A body that starts like an action response and stops mid-string. */
export const MALFORMED_JSON = '{"action": {"id": 1, "status": "in-pro';

/** Valid JSON that has none of the keys any endpoint promises. */
export const WRONG_SHAPE_BODY = { ok: true, data: 'not the shape you expected' };
