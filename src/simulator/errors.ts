/**
 * DigitalOcean error bodies, worded exactly as the seed captures and the OpenAPI examples word
 * them, so clients that match on `id` or on the message text behave as against the real API.
 */
export interface ErrorBody {
  id: string;
  message: string;
}

const BY_STATUS: Readonly<Record<number, ErrorBody>> = {
  400: { id: 'bad_request', message: 'error parsing request body' },
  401: { id: 'unauthorized', message: 'Unable to authenticate you.' },
  403: { id: 'forbidden', message: 'You do not have permission to perform this action.' },
  404: { id: 'not_found', message: 'The resource you requested could not be found.' },
  409: { id: 'conflict', message: 'The request could not be completed due to a conflict.' },
  422: { id: 'unprocessable_entity', message: 'request payload validation failed' },
  429: { id: 'too_many_requests', message: 'API Rate limit exceeded.' },
  500: { id: 'server_error', message: 'Unexpected server-side error' },
  502: { id: 'bad_gateway', message: 'Bad Gateway' },
  503: { id: 'service_unavailable', message: 'Service Unavailable' },
  504: { id: 'gateway_timeout', message: 'Gateway Timeout' },
};

/** The canonical body for a status; unlisted 4xx/5xx get a generic one of the right family. */
export function errorBody(status: number, message?: string): ErrorBody {
  const known = BY_STATUS[status];
  const base = known ?? (status >= 500 ? BY_STATUS[500] : BY_STATUS[400]) ?? { id: 'error', message: '' };
  return { id: base.id, message: message ?? base.message };
}

export const PENDING_EVENT_MESSAGE = 'Droplet already has a pending event.';
