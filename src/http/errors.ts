import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../errors/input-error.js';

/** The `error` field of every error response (`{ error, message }`), by status. */
const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'unavailable',
};

export function errorCode(status: number): string {
  return CODES[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
}

/** An error a route throws on purpose, with the status and message the client should see. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function notFound(message: string): HttpError {
  return new HttpError(404, message);
}

interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/webhooks/0/url` → `webhooks[0].url`, so a message names the field the way a client wrote it. */
function fieldPath(instancePath: string, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.reduce(
    (path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part),
    '',
  );
}

const PLACES: Record<string, string> = {
  body: 'body',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

function explain(error: SchemaError, place: string): string {
  const params = error.params;
  const name = (child?: string) => {
    const path = fieldPath(error.instancePath, child);
    if (place === 'body') return path === '' ? 'the body' : path;
    return path === '' ? `the ${PLACES[place] ?? place}s` : `${PLACES[place] ?? place} ${path}`;
  };
  switch (error.keyword) {
    case 'required':
      return `${name(String(params.missingProperty))} is required`;
    case 'additionalProperties':
      return `${name(String(params.additionalProperty))} is not a known field`;
    case 'type': {
      const types = String(params.type).split(',');
      return `${name()} must be ${types.map((type) => `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`).join(' or ')}`;
    }
    case 'enum':
      return `${name()} must be one of ${(params.allowedValues as unknown[]).filter((v) => v !== null).join(', ')}`;
    case 'maxItems':
      return `${name()} may hold at most ${String(params.limit)} items`;
    case 'minItems':
      return `${name()} must hold at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`;
    case 'maxLength':
      return `${name()} may be at most ${String(params.limit)} characters long`;
    case 'pattern':
      return `${name()} is not in the expected form (${String(params.pattern)})`;
    case 'uniqueItems':
      return `${name()} must not repeat a value`;
    default:
      return `${name()} ${error.message ?? 'is not valid'}`;
  }
}

/** Fastify's schemaErrorFormatter: the first problem, naming the field. */
export function formatSchemaErrors(errors: SchemaError[], place: string): Error {
  const [first] = errors;
  return new InputError(first === undefined ? `the ${place} is not valid` : explain(first, place));
}

/**
 * Every error becomes `{ error, message }`. Bad input (schema failures, InputError) is a 400 that
 * says what to fix; anything unexpected is a 500 whose details stay in the log, not the response.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const status =
      error instanceof InputError
        ? 400
        : error instanceof HttpError
          ? error.statusCode
          : 'statusCode' in error && typeof error.statusCode === 'number' && error.statusCode < 500
            ? error.statusCode
            : 500;
    if (status >= 500) {
      request.log.error({ err: error, url: request.routeOptions.url }, 'request failed');
      return reply.code(500).send({ error: errorCode(500), message: 'internal error; see the server log' });
    }
    return reply.code(status).send({ error: errorCode(status), message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}
