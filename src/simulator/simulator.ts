import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Action } from '../digitalocean/models.js';
import {
  ACTION_KINDS,
  type ActionKind,
  checkResourceId,
  isActionKind,
  type ResourceId,
} from './action-kinds.js';
import type { ActionResult } from './action-store.js';
import { registerApiRoutes } from './api-routes.js';
import { BackgroundActivity } from './background.js';
import { registerControlRoutes } from './control-routes.js';
import { registerDeployRoutes } from './deploy-routes.js';
import { errorBody } from './errors.js';
import type { FaultSpec } from './faults.js';
import type { CreateActionInput, SimulatorOptions } from './options.js';
import { installRequestPipeline } from './request-pipeline.js';
import { dropletView, volumeView } from './resource-views.js';
import { SimulatorState } from './simulator-state.js';
import { Sleeper } from './sleeper.js';
import type { LoggedRequest, SimulatorStats } from './stats.js';
import { actionView, imageView } from './views.js';

export type { ActionKind, ResourceId } from './action-kinds.js';
export type { ActionResult } from './action-store.js';
export type { FaultSpec } from './faults.js';
export type { BackgroundOptions, CreateActionInput, SimulatorOptions } from './options.js';
export type { LoggedRequest, SimulatorStats } from './stats.js';

/**
 * A DigitalOcean API stand-in for the action endpoints and the resources of a deploy (droplets,
 * volumes, reserved and floating IPs, NFS shares): same paths, JSON shapes, bearer auth,
 * per-token sliding-window rate limits and headers, plus injectable faults and quirks. Used
 * in-process by tests, the benchmark and the demo, and standalone by `actionwatch sim` (see
 * control-routes.ts for the curl-able `/_sim/` API).
 */
export class Simulator {
  readonly url: string;
  readonly port: number;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly app: FastifyInstance,
    private readonly state: SimulatorState,
    private readonly sleeper: Sleeper,
    private readonly background: BackgroundActivity | undefined,
    address: AddressInfo,
    host: string,
  ) {
    this.port = address.port;
    const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    this.url = `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${address.port}`;
  }

  static async start(options: SimulatorOptions = {}): Promise<Simulator> {
    const state = new SimulatorState(options);
    const background = options.background ? new BackgroundActivity(state, options.background) : undefined;
    const sleeper = new Sleeper();
    const app = Fastify({
      // stderr: the CLI keeps stdout for machine-readable output.
      logger: options.logger === true ? { level: 'info', stream: process.stderr } : false,
      // Keep-alive sockets would otherwise hold close() open until they idle out.
      forceCloseConnections: true,
      routerOptions: { ignoreTrailingSlash: true },
    });
    // Accept a JSON body whatever the Content-Type says (curl -d sends form-urlencoded).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(Object.assign(new Error('error parsing request body'), { statusCode: 400 }), undefined);
      }
    });
    app.setErrorHandler((error: { statusCode?: number; message?: string }, _request, reply) => {
      const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
      return reply.code(status).send(status >= 500 ? errorBody(500) : errorBody(status));
    });
    app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody(404)));
    installRequestPipeline(app, state, sleeper);
    registerApiRoutes(app, state);
    registerDeployRoutes(app, state);
    registerControlRoutes(app, state);

    const host = options.host ?? '127.0.0.1';
    await app.listen({ port: options.port ?? 0, host });
    background?.start();
    return new Simulator(app, state, sleeper, background, app.server.address() as AddressInfo, host);
  }

  /** Create an action directly (no auth, no rate limit, no pending-event check). */
  createAction(input: CreateActionInput): Action {
    return actionView(this.state.createAction(input), this.state.now());
  }

  /** The action as GET /v2/actions/{id} would show it now. */
  getAction(id: number): Action | undefined {
    const now = this.state.now();
    this.state.store.settle(now);
    const action = this.state.store.get(id);
    return action === undefined ? undefined : actionView(action, now);
  }

  /** End an action now with this outcome (rewrites the outcome if it already ended). */
  finishAction(id: number, result: ActionResult): void {
    this.state.finishAction(id, result);
  }

  /** The resource is gone: its actions leave every list, and GETs of them answer 404. */
  deleteResource(kind: ActionKind, resourceId: ResourceId): void {
    this.state.deleteResource(kind, resourceId);
  }

  /** Make a resource exist before it has any action (its lists are then empty, not 404). */
  ensureResource(kind: ActionKind, resourceId: ResourceId, region?: string): void {
    if (!isActionKind(kind)) throw new Error(`kind must be one of ${ACTION_KINDS.join(', ')}`);
    this.state.store.ensureResource(kind, checkResourceId(kind, resourceId), this.state.now(), region);
  }

  /** The image object GET /v2/images/{id} serves, if that image exists. */
  getImage(id: number): Record<string, unknown> | undefined {
    const now = this.state.now();
    this.state.store.settle(now);
    const image = this.state.store.image(id);
    return image === undefined ? undefined : imageView(image);
  }

  /** The droplet object GET /v2/droplets/{id} serves, if that droplet exists. */
  getDroplet(id: number): Record<string, unknown> | undefined {
    const now = this.state.now();
    this.state.store.settle(now);
    const droplet = this.state.store.resource('droplet', id);
    return droplet === undefined
      ? undefined
      : dropletView(this.state.lifecycle, this.state.store, droplet, now);
  }

  /** The volume object GET /v2/volumes/{id} serves, if that volume exists. */
  getVolume(id: string): Record<string, unknown> | undefined {
    this.state.store.settle(this.state.now());
    const volume = this.state.store.resource('volume', id.toLowerCase());
    return volume === undefined ? undefined : volumeView(this.state.lifecycle, volume);
  }

  injectFault(fault: FaultSpec): void {
    this.state.faults.add(fault);
  }

  clearFaults(): void {
    this.state.faults.clear();
  }

  /** Replace the accepted bearer tokens (revokes every token not listed). */
  setTokens(tokens: string[]): void {
    this.state.setTokens(tokens);
  }

  addToken(token: string): void {
    this.state.addToken(token);
  }

  revokeToken(token: string): void {
    this.state.revokeToken(token);
  }

  stats(): SimulatorStats {
    return this.state.stats.snapshot();
  }

  /** The latest DigitalOcean-facing requests (up to 10,000), oldest first, with when each arrived. */
  requestLog(): LoggedRequest[] {
    return this.state.stats.requests();
  }

  resetStats(): void {
    this.state.stats.reset();
  }

  /** Number of live actions held. */
  get actionCount(): number {
    return this.state.store.size;
  }

  /** Stops background activity, releases delayed requests and closes every connection. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.background?.stop();
      this.sleeper.releaseAll();
      this.closing = this.app.close();
    }
    return this.closing;
  }
}
