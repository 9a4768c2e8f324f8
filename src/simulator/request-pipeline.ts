import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './errors.js';
import {
  type AnswerRewrite,
  type FaultSpec,
  isAnswerRewrite,
  MALFORMED_JSON,
  rewriteAnswer,
  WRONG_SHAPE_BODY,
} from './faults.js';
import type { RateLimitDecision } from './rate-limiter.js';
import type { SimulatorState } from './simulator-state.js';
import type { Sleeper } from './sleeper.js';

/**
 * What happens to every DigitalOcean-facing request before its route runs, in this order:
 *   1. bearer auth: a missing or unknown token is a 401 (not counted against any budget);
 *   2. the token's sliding-window limits: over a limit is a 429 (not counted either);
 *   3. the request is counted, and an armed fault may take over the answer.
 * Every answer, errors included, carries ratelimit-limit/-remaining/-reset. The `/_sim/`
 * control API skips all of it.
 */

const CONTROL_PREFIX = '/_sim';
const tokenOf = new WeakMap<FastifyRequest, string>();
const dropped = new WeakSet<FastifyRequest>();
const rewrites = new WeakMap<FastifyRequest, AnswerRewrite>();
/** When each request arrived (wall clock), for the request log. */
const arrivals = new WeakMap<FastifyRequest, number>();

export function isControlPath(url: string): boolean {
  return (
    url === CONTROL_PREFIX || url.startsWith(`${CONTROL_PREFIX}/`) || url.startsWith(`${CONTROL_PREFIX}?`)
  );
}

export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function setRateHeaders(reply: FastifyReply, decision: RateLimitDecision): void {
  reply.header('ratelimit-limit', String(decision.limit));
  reply.header('ratelimit-remaining', String(decision.remaining));
  reply.header('ratelimit-reset', String(decision.resetSeconds));
}

export function installRequestPipeline(app: FastifyInstance, state: SimulatorState, sleeper: Sleeper): void {
  app.addHook('onRequest', async (request, reply) => {
    if (isControlPath(request.url)) return;
    arrivals.set(request, Date.now());
    const now = state.now();
    state.store.settle(now);

    const token = bearerToken(request.headers.authorization);
    if (token === undefined || !state.isAccepted(token)) {
      setRateHeaders(reply, state.limiter.peek(token ?? '', now));
      return reply.code(401).send(errorBody(401));
    }
    tokenOf.set(request, token);

    const decision = state.limiter.consume(token, now);
    setRateHeaders(reply, decision);
    if (!decision.allowed) {
      if (decision.retryAfterSeconds !== undefined)
        reply.header('retry-after', String(decision.retryAfterSeconds));
      return reply.code(429).send(errorBody(429));
    }

    const fault = state.faults.take(request.method, pathOf(request.url));
    if (fault === undefined) return;
    state.stats.fault();
    if (fault.delayMs !== undefined && fault.delayMs > 0) await sleeper.sleep(fault.delayMs);
    if (isAnswerRewrite(fault)) {
      rewrites.set(request, fault);
      return;
    }
    return applyFault(fault, request, reply, state, token);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const fault = rewrites.get(request);
    if (fault === undefined || reply.statusCode >= 300 || typeof payload !== 'string') return payload;
    return rewriteAnswer(fault, payload);
  });

  app.addHook('onResponse', async (request, reply) => {
    if (isControlPath(request.url) || dropped.has(request)) return;
    state.stats.record(routeKey(request), reply.statusCode, tokenOf.get(request), arrivals.get(request));
  });
}

function applyFault(
  fault: FaultSpec,
  request: FastifyRequest,
  reply: FastifyReply,
  state: SimulatorState,
  token: string,
): FastifyReply | undefined {
  switch (fault.kind) {
    case 'delay':
    case 'bare-action':
    case 'truncated':
    case 'action-fields':
    case 'next-link':
      return undefined;
    case 'drop':
      dropped.add(request);
      state.stats.record(routeKey(request), 'dropped', token, arrivals.get(request));
      reply.hijack();
      request.raw.socket.destroy();
      return reply;
    case 'malformed-json':
      return reply.code(200).type('application/json; charset=utf-8').send(MALFORMED_JSON);
    case 'wrong-shape':
      return reply.code(200).send(fault.body ?? WRONG_SHAPE_BODY);
    case 'status': {
      if (fault.status === 429) {
        // A 429 is never counted, injected or not; and it says the budget is spent.
        state.limiter.refund(token);
        reply.header('ratelimit-remaining', '0');
        if (fault.retryAfterSeconds !== undefined)
          reply.header('retry-after', String(fault.retryAfterSeconds));
      }
      reply.code(fault.status);
      if (typeof fault.body === 'string') return reply.type('text/html; charset=utf-8').send(fault.body);
      return reply.send(fault.body ?? errorBody(fault.status));
    }
  }
}

function routeKey(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? '(unmatched)'}`;
}
