import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Secret } from '../config/secret.js';
import { ConfigError } from '../errors/config-error.js';
import { errorCode } from './errors.js';

/**
 * Constant-time comparison. Both sides are hashed first, so neither the content nor the length of
 * the expected token can be learned from how long a wrong guess takes to be refused.
 */
export function tokensMatch(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Answered here rather than thrown: the dashboard's routes have Bull Board's own error handler. */
function unauthorized(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="actionwatch"')
    .send({ error: errorCode(401), message });
}

/** An onRequest hook: `Authorization: Bearer <API_TOKEN>`, or nothing at all when no token is set. */
export function requireBearer(token: Secret | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (token === undefined) return undefined;
    const given = bearerToken(request);
    if (given === undefined) return unauthorized(reply, 'send Authorization: Bearer <API_TOKEN>');
    if (!tokensMatch(given, token.reveal())) return unauthorized(reply, 'the bearer token is not valid');
    return undefined;
  };
}

export const DASHBOARD_COOKIE = 'actionwatch_dashboard';

/** What the dashboard cookie holds: derived from the token, so the cookie never carries the token itself. */
export function dashboardSession(token: Secret): string {
  return createHmac('sha256', token.reveal()).update('actionwatch dashboard session').digest('base64url');
}

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/**
 * The dashboard is opened in a browser, which cannot add a bearer header: besides the header it
 * accepts a session cookie, which `?token=<API_TOKEN>` sets once (then redirects to drop the token
 * from the address bar and history).
 */
export function requireDashboardAccess(token: Secret | undefined, basePath: string) {
  const bearer = requireBearer(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (token === undefined || bearerToken(request) !== undefined) return bearer(request, reply);
    const session = cookie(request, DASHBOARD_COOKIE);
    if (session !== undefined && tokensMatch(session, dashboardSession(token))) return undefined;
    const url = new URL(request.url, 'http://localhost');
    const given = url.searchParams.get('token');
    if (given === null) {
      return unauthorized(
        reply,
        `open ${basePath}?token=<API_TOKEN> once, or send Authorization: Bearer <API_TOKEN>`,
      );
    }
    if (!tokensMatch(given, token.reveal())) return unauthorized(reply, 'the token is not valid');
    url.searchParams.delete('token');
    const secure = request.protocol === 'https' ? '; Secure' : '';
    reply.header(
      'set-cookie',
      `${DASHBOARD_COOKIE}=${dashboardSession(token)}; Path=${basePath}; HttpOnly; SameSite=Strict; Max-Age=43200${secure}`,
    );
    return reply.redirect(`${url.pathname}${url.search}`, 303);
  };
}

/** localhost, 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z): only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

/** The API holds the power to enqueue and cancel: off this machine it must be behind API_TOKEN. */
export function assertSafeBinding(host: string, token: Secret | undefined): void {
  if (token === undefined && !isLoopbackHost(host)) {
    throw new ConfigError([
      `API_TOKEN is not set: refusing to listen on ${host}, which other machines can reach. Set API_TOKEN (e.g. openssl rand -hex 32) or listen on 127.0.0.1.`,
    ]);
  }
}
