import { z } from 'zod';
import { actionSchema, WATCH_KINDS } from '../digitalocean/models.js';
import { OUTCOMES, type OutcomeRecord, type WatchWebhook } from './watch.js';

export const watchWebhookSchema: z.ZodType<WatchWebhook> = z.looseObject({
  url: z.string(),
  on: z.array(z.enum(OUTCOMES)).optional(),
});

/** An OutcomeRecord as stored at `<prefix>:outcome:<id>` and carried by `action.*` events. */
export const outcomeRecordSchema: z.ZodType<OutcomeRecord> = z.looseObject({
  type: z.templateLiteral(['action.', z.enum(OUTCOMES)]),
  outcome: z.enum(OUTCOMES),
  watch: z.looseObject({
    id: z.string(),
    kind: z.enum(WATCH_KINDS),
    resourceId: z.union([z.number(), z.string()]).nullable(),
    actionId: z.number().nullable(),
    awaits: z.literal('deletion').optional(),
    enqueuedAt: z.string(),
    finishedAt: z.string(),
    polls: z.number(),
    tokenProfile: z.string().optional(),
  }),
  action: actionSchema.nullable(),
  reason: z.string().optional(),
  webhooks: z.array(watchWebhookSchema).optional(),
});
