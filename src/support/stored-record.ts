import type { z } from 'zod';
import { CorruptRecordError } from '../errors/corrupt-record-error.js';

/**
 * Reads a JSON record as Redis returned it from `key`, checked against `schema` on the way out:
 * a record that is not what it should be is a CorruptRecordError naming the key, here, rather than
 * a TypeError wherever a field is first used. Schemas of stored records keep fields they do not
 * name (loose objects), so a record reads back exactly as it was written.
 */
export function parseStoredRecord<T>(schema: z.ZodType<T>, key: string, json: string): T {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new CorruptRecordError(key, `not JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
    throw new CorruptRecordError(key, `${issue?.message ?? 'unexpected shape'}${where}`);
  }
  return parsed.data;
}

/** parseStoredRecord for a reply that may be missing (null): undefined then. */
export function parseStoredRecordOrNone<T>(
  schema: z.ZodType<T>,
  key: string,
  json: string | null,
): T | undefined {
  return json === null ? undefined : parseStoredRecord(schema, key, json);
}

/**
 * Reads a JSON record whose reader treats a damaged one as absent: bookkeeping that the next step
 * or round writes afresh (the fleet's registrations, observations and listing model), where
 * failing a round over one bad entry would cost more than forgetting it. Undefined for a missing
 * reply, for text that is not JSON, and for a value not of `schema`'s shape.
 */
export function parseForgivingRecord<T>(schema: z.ZodType<T>, json: string | null): T | undefined {
  if (json === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
