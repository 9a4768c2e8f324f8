import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ACTION_KINDS, isActionKind, isNumericKind } from './action-kinds.js';
import { errorBody } from './errors.js';
import type { FaultSpec } from './faults.js';
import type { CreateActionInput } from './options.js';
import type { SimulatorState } from './simulator-state.js';
import { actionView } from './views.js';

/**
 * The `/_sim/` control API, so someone running `actionwatch sim` in one shell can drive it with
 * curl from another. No auth, no rate limit, no faults, not in the stats. Bodies are JSON
 * (a Content-Type header is optional).
 *
 *   POST   /_sim/actions                {CreateActionInput}        → 201 {"action": …}
 *   GET    /_sim/actions/{id}                                      → 200 {"action": …}
 *   POST   /_sim/actions/{id}/finish    {"result"?: "completed"|"errored"} → 200 {"action": …}
 *   DELETE /_sim/resources/{kind}/{id}                             → 204 (its actions then 404)
 *   POST   /_sim/faults                 {FaultSpec, `path` as a regex string} → 201 {"armed": n}
 *   DELETE /_sim/faults                                            → 204
 *   GET    /_sim/stats                                             → 200 SimulatorStats
 *   DELETE /_sim/stats                                             → 204 (reset)
 *   PUT    /_sim/tokens                 {"tokens": ["…"]}          → 200 {"tokens": […]}
 *
 * e.g. curl -s localhost:3000/_sim/actions -d '{"kind":"droplet","resourceId":42,"durationMs":60000}'
 */

const createActionSchema = z.strictObject({
  kind: z.enum(ACTION_KINDS),
  // Checked against the kind by createAction: a number, a UUID or an address.
  resourceId: z.union([z.number().int().positive(), z.string().min(1)]),
  type: z.string().min(1).optional(),
  durationMs: z.number().nonnegative().optional(),
  result: z.enum(['completed', 'errored']).optional(),
  region: z.string().optional(),
  startedAt: z.number().optional(),
  initialStatus: z.strictObject({ status: z.string().min(1), forMs: z.number().nonnegative() }).optional(),
  snapshotName: z.string().optional(),
});

const faultMatch = {
  times: z.number().positive().optional(),
  method: z.string().optional(),
  path: z.string().optional(),
  delayMs: z.number().nonnegative().optional(),
};

const faultSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('status'),
    status: z.number().int().min(100).max(599),
    body: z.unknown().optional(),
    retryAfterSeconds: z.number().nonnegative().optional(),
    ...faultMatch,
  }),
  z.strictObject({ kind: z.literal('drop'), ...faultMatch }),
  z.strictObject({ kind: z.literal('malformed-json'), ...faultMatch }),
  z.strictObject({ kind: z.literal('wrong-shape'), body: z.unknown().optional(), ...faultMatch }),
  z.strictObject({ kind: z.literal('delay'), ...faultMatch, delayMs: z.number().nonnegative() }),
  z.strictObject({ kind: z.literal('bare-action'), ...faultMatch }),
  z.strictObject({ kind: z.literal('truncated'), ...faultMatch }),
  z.strictObject({
    kind: z.literal('action-fields'),
    fields: z.record(z.string(), z.unknown()),
    ...faultMatch,
  }),
  z.strictObject({
    kind: z.literal('next-link'),
    origin: z.string().url().optional(),
    link: z.string().optional(),
    ...faultMatch,
  }),
]);

const finishSchema = z.strictObject({ result: z.enum(['completed', 'errored']).optional() }).optional();
const tokensSchema = z.strictObject({ tokens: z.array(z.string().min(1)) });

type Params = Record<string, string>;

function badRequest(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send(errorBody(400, message));
}

function issues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
}

function positiveId(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^[1-9]\d{0,15}$/.test(raw)) return undefined;
  return Number(raw);
}

export function registerControlRoutes(app: FastifyInstance, state: SimulatorState): void {
  app.post('/_sim/actions', async (request, reply) => {
    const parsed = createActionSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, issues(parsed.error));
    try {
      const action = state.createAction(parsed.data as CreateActionInput);
      return reply.code(201).send({ action: actionView(action, state.now()) });
    } catch (error) {
      return badRequest(reply, (error as Error).message);
    }
  });

  app.get<{ Params: Params }>('/_sim/actions/:id', async (request, reply) => {
    const id = positiveId(request.params.id);
    const action = id === undefined ? undefined : state.store.get(id);
    if (action === undefined) return reply.code(404).send(errorBody(404));
    return reply.send({ action: actionView(action, state.now()) });
  });

  app.post<{ Params: Params }>('/_sim/actions/:id/finish', async (request, reply) => {
    const id = positiveId(request.params.id);
    if (id === undefined || state.store.get(id) === undefined) return reply.code(404).send(errorBody(404));
    const parsed = finishSchema.safeParse(request.body ?? undefined);
    if (!parsed.success) return badRequest(reply, issues(parsed.error));
    const action = state.finishAction(id, parsed.data?.result ?? 'completed');
    return reply.send({ action: actionView(action, state.now()) });
  });

  app.delete<{ Params: Params }>('/_sim/resources/:kind/:id', async (request, reply) => {
    const kind = request.params.kind;
    const raw = request.params.id;
    const id = isActionKind(kind) && isNumericKind(kind) ? positiveId(raw) : raw;
    if (!isActionKind(kind) || id === undefined) {
      return badRequest(reply, `expected /_sim/resources/{${ACTION_KINDS.join('|')}}/{id}`);
    }
    try {
      state.deleteResource(kind, id);
    } catch (error) {
      return badRequest(reply, (error as Error).message);
    }
    return reply.code(204).send();
  });

  app.post('/_sim/faults', async (request, reply) => {
    const parsed = faultSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, issues(parsed.error));
    try {
      state.faults.add(parsed.data as FaultSpec);
    } catch (error) {
      return badRequest(reply, (error as Error).message);
    }
    return reply.code(201).send({ armed: state.faults.size });
  });

  app.delete('/_sim/faults', async (_request, reply) => {
    state.faults.clear();
    return reply.code(204).send();
  });

  app.get('/_sim/stats', async () => state.stats.snapshot());

  app.delete('/_sim/stats', async (_request, reply) => {
    state.stats.reset();
    return reply.code(204).send();
  });

  app.put('/_sim/tokens', async (request, reply) => {
    const parsed = tokensSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, issues(parsed.error));
    state.setTokens(parsed.data.tokens);
    return reply.send({ tokens: state.acceptedTokens() });
  });
}
