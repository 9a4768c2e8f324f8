import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ResourceKind } from '../digitalocean/models.js';
import { parseDropletActionRequest, parseImageActionRequest } from './action-requests.js';
import type { ActionRecord } from './action-store.js';
import { errorBody, PENDING_EVENT_MESSAGE } from './errors.js';
import { pageLinks, pageOf, parsePageRequest } from './pagination.js';
import { pathOf } from './request-pipeline.js';
import type { SimulatorState } from './simulator-state.js';
import { actionView, imageView, snapshotView } from './views.js';

/**
 * The DigitalOcean routes. A path id that is not a positive integer is a 404 not_found, which
 * is what DigitalOcean answers (the route simply does not match); a bad `page`/`per_page` is a
 * 400 bad_request. An action asked for under a resource it does not belong to is a 404.
 * Resources come into existence with their first action (created here, by POST, or through
 * the control API); a deleted resource and all its actions answer 404 from then on.
 */

type Params = Record<string, string>;

const ID = /^[1-9]\d{0,15}$/;

export function parseId(raw: string | undefined): number | undefined {
  if (raw === undefined || !ID.test(raw)) return undefined;
  const id = Number(raw);
  return Number.isSafeInteger(id) ? id : undefined;
}

export function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).send(errorBody(404));
}

function searchOf(url: string): URLSearchParams {
  const query = url.indexOf('?');
  return new URLSearchParams(query === -1 ? '' : url.slice(query + 1));
}

/** One page of a list, with `links` and `meta.total`; a bad `page`/`per_page` is a 400. */
export function sendList<T>(
  state: SimulatorState,
  request: FastifyRequest,
  reply: FastifyReply,
  key: string,
  items: readonly T[],
  view: (item: T) => unknown,
): FastifyReply {
  const search = searchOf(request.url);
  const paging = parsePageRequest(search);
  if ('error' in paging) return reply.code(400).send(errorBody(400, paging.error));
  const page = pageOf(items, paging, state.listOrder);
  const base = `${request.protocol}://${request.host}${pathOf(request.url)}`;
  return reply.send({
    [key]: page.map(view),
    links: pageLinks(base, search, paging, items.length),
    meta: { total: items.length },
  });
}

export function registerApiRoutes(app: FastifyInstance, state: SimulatorState): void {
  const { store } = state;

  // Lists never apply the completed_at quirk: it was only ever seen on the single droplet GET.
  function actionViews(now: number) {
    return (id: number) => actionView(store.get(id) as ActionRecord, now);
  }

  function listScoped(kind: ResourceKind, param: string) {
    return async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const id = parseId(request.params[param]);
      const resource = id === undefined ? undefined : store.resource(kind, id);
      if (resource === undefined) return notFound(reply);
      return sendList(state, request, reply, 'actions', resource.actionIds, actionViews(state.now()));
    };
  }

  function getScoped(kind: ResourceKind, param: string) {
    return async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const resourceId = parseId(request.params[param]);
      const actionId = parseId(request.params.action_id);
      if (resourceId === undefined || actionId === undefined) return notFound(reply);
      const action = store.get(actionId);
      if (action === undefined || action.kind !== kind || action.resourceId !== resourceId)
        return notFound(reply);
      const completedAtNull = kind === 'droplet' && state.completedAtNullOnDropletGet;
      return reply.send({ action: actionView(action, state.now(), { completedAtNull }) });
    };
  }

  app.get('/v2/actions', async (request, reply) =>
    sendList(state, request, reply, 'actions', store.ids(), actionViews(state.now())),
  );

  app.get<{ Params: Params }>('/v2/actions/:action_id', async (request, reply) => {
    const id = parseId(request.params.action_id);
    const action = id === undefined ? undefined : store.get(id);
    if (action === undefined) return notFound(reply);
    return reply.send({ action: actionView(action, state.now()) });
  });

  app.get<{ Params: Params }>('/v2/droplets/:droplet_id/actions', listScoped('droplet', 'droplet_id'));
  app.get<{ Params: Params }>(
    '/v2/droplets/:droplet_id/actions/:action_id',
    getScoped('droplet', 'droplet_id'),
  );
  app.get<{ Params: Params }>('/v2/images/:image_id/actions', listScoped('image', 'image_id'));
  app.get<{ Params: Params }>('/v2/images/:image_id/actions/:action_id', getScoped('image', 'image_id'));

  app.post<{ Params: Params }>('/v2/droplets/:droplet_id/actions', async (request, reply) => {
    const id = parseId(request.params.droplet_id);
    if (id === undefined || store.isDeleted('droplet', id)) return notFound(reply);
    const parsed = parseDropletActionRequest(request.body);
    if (!parsed.ok) return reply.code(422).send(errorBody(422, parsed.message));
    const now = state.now();
    const existing = store.resource('droplet', id);
    if (existing !== undefined && store.hasPending(existing, now)) {
      return reply.code(422).send(errorBody(422, PENDING_EVENT_MESSAGE));
    }
    const action = state.createAction({
      kind: 'droplet',
      resourceId: id,
      type: parsed.type,
      ...(parsed.snapshotName === undefined ? {} : { snapshotName: parsed.snapshotName }),
    });
    return reply.code(201).send({ action: actionView(action, now) });
  });

  app.post<{ Params: Params }>('/v2/images/:image_id/actions', async (request, reply) => {
    const id = parseId(request.params.image_id);
    if (id === undefined || store.isDeleted('image', id)) return notFound(reply);
    const parsed = parseImageActionRequest(request.body);
    if (!parsed.ok) return reply.code(422).send(errorBody(422, parsed.message));
    const action = state.createAction({
      kind: 'image',
      resourceId: id,
      type: parsed.type,
      ...(parsed.region === undefined ? {} : { region: parsed.region }),
    });
    return reply.code(201).send({ action: actionView(action, state.now()) });
  });

  app.get<{ Params: Params }>('/v2/images/:image_id', async (request, reply) => {
    const id = parseId(request.params.image_id);
    const image = id === undefined ? undefined : store.image(id);
    if (image === undefined) return notFound(reply);
    return reply.send({ image: imageView(image) });
  });

  app.get<{ Params: Params }>('/v2/droplets/:droplet_id/snapshots', async (request, reply) => {
    const id = parseId(request.params.droplet_id);
    const droplet = id === undefined ? undefined : store.resource('droplet', id);
    if (droplet === undefined) return notFound(reply);
    return sendList(state, request, reply, 'snapshots', droplet.snapshotIds, (imageId) => {
      const image = store.image(imageId);
      return image === undefined ? undefined : snapshotView(image);
    });
  });
}
