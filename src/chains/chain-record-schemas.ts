import { z } from 'zod';
import { RUN_KINDS } from '../digitalocean/models.js';
import { watchWebhookSchema } from '../watches/outcome-record-schema.js';
import { OUTCOMES } from '../watches/watch.js';
import {
  CHAIN_EVENT_TYPES,
  CHAIN_OUTCOMES,
  type ChainFailure,
  type ChainOutcomeRecord,
  type ChainRecord,
  type RunState,
  type StepState,
} from './chain.js';
import type { ChainPlan, ChainStepPlan } from './chain-plan.js';

const runStateSchema: z.ZodType<RunState> = z.looseObject({
  kind: z.enum(RUN_KINDS),
  type: z.string(),
  resourceId: z.union([z.number(), z.string()]).optional(),
  region: z.string().optional(),
  actionId: z.number().optional(),
  watchId: z.string().optional(),
  outcome: z.enum(OUTCOMES).optional(),
  imageId: z.number().optional(),
  dropletId: z.number().optional(),
  activeAt: z.string().optional(),
  ipv4: z.string().optional(),
  deleteSent: z.boolean().optional(),
  busySince: z.number().optional(),
  retryDelayMs: z.number().optional(),
});

const stepStateSchema: z.ZodType<StepState> = z.looseObject({
  id: z.string(),
  status: z.enum(['pending', 'starting', 'watching', 'resolving', 'completed', 'failed']),
  startedAt: z.string().optional(),
  settledAt: z.string().optional(),
  finishedAt: z.string().optional(),
  runs: z.array(runStateSchema),
  reason: z.string().optional(),
});

const stepPlanSchema: z.ZodType<ChainStepPlan> = z.looseObject({
  id: z.string(),
  runs: z.array(
    z.union([
      z.looseObject({
        kind: z.literal('droplet'),
        type: z.literal('create'),
        create: z.looseObject({
          name: z.string(),
          region: z.string(),
          size: z.string(),
          image: z.union([z.number(), z.string()]),
          ssh_keys: z.array(z.union([z.number(), z.string()])).optional(),
          tags: z.array(z.string()).optional(),
          user_data: z.string().optional(),
        }),
        until: z.literal('active').optional(),
      }),
      z.looseObject({
        kind: z.enum(RUN_KINDS),
        resourceId: z.union([z.number(), z.string()]),
        type: z.string(),
        region: z.string().optional(),
        params: z.record(z.string(), z.unknown()).optional(),
      }),
    ]),
  ),
  timeoutMs: z.number().optional(),
  retryPendingMs: z.number().optional(),
});

const chainPlanSchema: z.ZodType<ChainPlan> = z.looseObject({
  name: z.string().optional(),
  timeoutMs: z.number().optional(),
  retryPendingMs: z.number().optional(),
  webhooks: z.array(watchWebhookSchema).optional(),
  steps: z.array(stepPlanSchema),
  // Absent from records written before cleanup steps existed.
  onFailure: z.array(stepPlanSchema).optional(),
});

const chainFailureSchema: z.ZodType<ChainFailure> = z.looseObject({
  outcome: z.enum(CHAIN_OUTCOMES).exclude(['completed', 'cancelled']),
  failedStep: z.string().optional(),
  reason: z.string().optional(),
});

/** A ChainRecord as stored at `<prefix>:chain:<id>`. */
export const chainRecordSchema: z.ZodType<ChainRecord> = z.looseObject({
  id: z.string(),
  key: z.string().optional(),
  fingerprint: z.string(),
  createdAt: z.string(),
  plan: chainPlanSchema,
  current: z.number(),
  steps: z.array(stepStateSchema),
  onFailure: z.array(stepStateSchema).optional(),
  failure: chainFailureSchema.optional(),
  updatedAt: z.string(),
});

/** A ChainOutcomeRecord as stored at `<prefix>:chain-outcome:<id>` and carried by `chain.*` events. */
export const chainOutcomeRecordSchema: z.ZodType<ChainOutcomeRecord> = z.looseObject({
  type: z.enum(CHAIN_EVENT_TYPES),
  outcome: z.enum(CHAIN_OUTCOMES),
  chain: z.looseObject({
    id: z.string(),
    name: z.string().optional(),
    createdAt: z.string(),
    finishedAt: z.string(),
  }),
  steps: z.array(stepStateSchema),
  failedStep: z.string().optional(),
  reason: z.string().optional(),
  onFailure: z.array(stepStateSchema).optional(),
  webhooks: z.array(watchWebhookSchema).optional(),
});
