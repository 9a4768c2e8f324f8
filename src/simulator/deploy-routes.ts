import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ActionKind, isUuid, type ResourceId } from './action-kinds.js';
import type { ActionRecord, ResourceRecord } from './action-store.js';
import { notFound, parseId, sendList } from './api-routes.js';
import {
  parseAddressAction,
  parseAddressCreate,
  parseDropletCreate,
  parseIpv6Create,
  parseShareAction,
  parseShareCreate,
  parseVolumeAction,
  parseVolumeCreate,
} from './deploy-requests.js';
import { errorBody } from './errors.js';
import {
  actionLink,
  dropletView,
  ipv4View,
  ipv6View,
  shareActionView,
  shareView,
  volumeView,
} from './resource-views.js';
import type { SimulatorState } from './simulator-state.js';
import { actionView } from './views.js';

/**
 * The routes of a whole deploy, beside the action routes of api-routes.ts: droplets created
 * (202, `links.actions`) and deleted, volumes and their actions, reserved and floating IPs
 * (IPv4 and IPv6) and their actions, NFS shares and their actions. Each action they start is
 * in /v2/actions and /v2/actions/{id} too, with its `resource_type`.
 *
 * A path id of the wrong form (not a positive integer, UUID or address) is a 404, as for the
 * action routes; a body the spec would refuse is a 422; a DELETE answers 204 and the resource
 * answers 404 once `deleteDelayMs` has passed.
 */

type Params = Record<string, string>;

function unprocessable(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(422).send(errorBody(422, message));
}

function baseUrlOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

function uuidParam(raw: string | undefined): string | undefined {
  return raw !== undefined && isUuid(raw) ? raw.toLowerCase() : undefined;
}

function ipv4Param(raw: string | undefined): string | undefined {
  return raw !== undefined && isIPv4(raw) ? raw : undefined;
}

function ipv6Param(raw: string | undefined): string | undefined {
  return raw !== undefined && isIPv6(raw) ? raw.toLowerCase() : undefined;
}

export function registerDeployRoutes(app: FastifyInstance, state: SimulatorState): void {
  const { store, lifecycle } = state;

  function find(kind: ActionKind, id: ResourceId | undefined): ResourceRecord | undefined {
    return id === undefined ? undefined : store.resource(kind, id);
  }

  /**
   * A handler for a route under one resource (`param` of the path, read by `parse`): a 404 when
   * there is no such resource, otherwise `handle` with it.
   */
  function onResource(
    kind: ActionKind,
    param: string,
    parse: (raw: string | undefined) => ResourceId | undefined,
    handle: (
      resource: ResourceRecord,
      request: FastifyRequest<{ Params: Params }>,
      reply: FastifyReply,
    ) => unknown,
  ) {
    return async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const resource = find(kind, parse(request.params[param]));
      return resource === undefined ? notFound(reply) : handle(resource, request, reply);
    };
  }

  function listActions(
    kind: ActionKind,
    param: string,
    parse: (raw: string | undefined) => ResourceId | undefined,
  ) {
    return onResource(kind, param, parse, (resource, request, reply) => {
      const now = state.now();
      return sendList(state, request, reply, 'actions', resource.actionIds, (id: number) =>
        actionView(store.get(id) as ActionRecord, now),
      );
    });
  }

  function getAction(
    kind: ActionKind,
    param: string,
    parse: (raw: string | undefined) => ResourceId | undefined,
  ) {
    return onResource(kind, param, parse, (resource, request, reply) => {
      const actionId = parseId(request.params.action_id);
      const action = actionId === undefined ? undefined : store.get(actionId);
      if (action === undefined || action.resource !== resource) return notFound(reply);
      return reply.send({ action: actionView(action, state.now()) });
    });
  }

  function remove(
    kind: ActionKind,
    param: string,
    parse: (raw: string | undefined) => ResourceId | undefined,
  ) {
    return onResource(kind, param, parse, (resource, _request, reply) => {
      lifecycle.scheduleDeletion(resource);
      // The spec's droplet DELETE lists a content-type header on its 204.
      return reply.code(204).header('content-type', 'application/json; charset=utf-8').send();
    });
  }

  // Droplets.
  app.post('/v2/droplets', async (request, reply) => {
    const parsed = parseDropletCreate(request.body);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    const created = lifecycle.createDroplets(parsed);
    const now = state.now();
    const base = baseUrlOf(request);
    const links = { actions: created.map(({ action }) => actionLink(base, action, 'create')) };
    const views = created.map(({ droplet }) => dropletView(lifecycle, store, droplet, now));
    return reply.code(202).send(parsed.multiple ? { droplets: views, links } : { droplet: views[0], links });
  });

  // The list, optionally of one tag's droplets (`tag_name`), oldest first like every list here.
  app.get<{ Querystring: Record<string, string | undefined> }>('/v2/droplets', async (request, reply) => {
    const tag = request.query.tag_name;
    const droplets = store
      .resources('droplet')
      .filter((droplet) => tag === undefined || lifecycle.dropletOf(droplet).tags.includes(tag));
    const now = state.now();
    return sendList(state, request, reply, 'droplets', droplets, (droplet) =>
      dropletView(lifecycle, store, droplet, now),
    );
  });

  app.get<{ Params: Params }>('/v2/droplets/:droplet_id', async (request, reply) => {
    const droplet = find('droplet', parseId(request.params.droplet_id));
    if (droplet === undefined) return notFound(reply);
    return reply.send({ droplet: dropletView(lifecycle, store, droplet, state.now()) });
  });

  app.delete<{ Params: Params }>('/v2/droplets/:droplet_id', remove('droplet', 'droplet_id', parseId));

  // Volumes.
  app.post('/v2/volumes', async (request, reply) => {
    const parsed = parseVolumeCreate(request.body);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    return reply.code(201).send({ volume: volumeView(lifecycle, lifecycle.createVolume(parsed)) });
  });

  app.get<{ Params: Params }>('/v2/volumes/:volume_id', async (request, reply) => {
    const volume = find('volume', uuidParam(request.params.volume_id));
    if (volume === undefined) return notFound(reply);
    return reply.send({ volume: volumeView(lifecycle, volume) });
  });

  app.delete<{ Params: Params }>('/v2/volumes/:volume_id', remove('volume', 'volume_id', uuidParam));

  app.post('/v2/volumes/actions', async (request, reply) => {
    const parsed = parseVolumeAction(request.body, true);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    const body = request.body as Record<string, unknown>;
    if (typeof body.volume_name !== 'string' || body.volume_name === '') {
      return unprocessable(reply, 'volume_name is required');
    }
    const volume = lifecycle.volumeNamed(body.volume_name, parsed.region);
    if (volume === undefined) return notFound(reply);
    return reply
      .code(202)
      .send({ action: actionView(lifecycle.startVolumeAction(volume, parsed), state.now()) });
  });

  app.get<{ Params: Params }>(
    '/v2/volumes/:volume_id/actions',
    listActions('volume', 'volume_id', uuidParam),
  );

  app.post<{ Params: Params }>('/v2/volumes/:volume_id/actions', async (request, reply) => {
    const volume = find('volume', uuidParam(request.params.volume_id));
    if (volume === undefined) return notFound(reply);
    const parsed = parseVolumeAction(request.body, false);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    return reply
      .code(202)
      .send({ action: actionView(lifecycle.startVolumeAction(volume, parsed), state.now()) });
  });

  app.get<{ Params: Params }>(
    '/v2/volumes/:volume_id/actions/:action_id',
    getAction('volume', 'volume_id', uuidParam),
  );

  // Reserved IPs and floating IPs: one pool of IPv4 addresses under two names.
  for (const kind of ['reserved_ip', 'floating_ip'] as const) {
    const collection = `/v2/${kind}s`;
    app.post(collection, async (request, reply) => {
      const parsed = parseAddressCreate(request.body);
      if (!parsed.ok) return unprocessable(reply, parsed.message);
      const { resource, action } = lifecycle.reserveIpv4(kind, parsed.create);
      const now = state.now();
      const base = baseUrlOf(request);
      const links =
        action === undefined || !('dropletId' in parsed.create)
          ? {}
          : {
              droplets: [
                {
                  id: parsed.create.dropletId,
                  rel: 'droplet',
                  href: `${base}/v2/droplets/${parsed.create.dropletId}`,
                },
              ],
              actions: [actionLink(base, action, 'assign_ip')],
            };
      return reply.code(202).send({ [kind]: ipv4View(lifecycle, store, resource, now), links });
    });

    app.get<{ Params: Params }>(`${collection}/:${kind}`, async (request, reply) => {
      const address = find(kind, ipv4Param(request.params[kind]));
      if (address === undefined) return notFound(reply);
      return reply.send({ [kind]: ipv4View(lifecycle, store, address, state.now()) });
    });

    app.delete<{ Params: Params }>(`${collection}/:${kind}`, remove(kind, kind, ipv4Param));
    app.get<{ Params: Params }>(`${collection}/:${kind}/actions`, listActions(kind, kind, ipv4Param));

    app.post<{ Params: Params }>(`${collection}/:${kind}/actions`, async (request, reply) => {
      const address = find(kind, ipv4Param(request.params[kind]));
      if (address === undefined) return notFound(reply);
      const parsed = parseAddressAction(request.body);
      if (!parsed.ok) return unprocessable(reply, parsed.message);
      const action = lifecycle.startAddressAction(kind, address, parsed.action);
      return reply.code(201).send({ action: actionView(action, state.now()) });
    });

    app.get<{ Params: Params }>(
      `${collection}/:${kind}/actions/:action_id`,
      getAction(kind, kind, ipv4Param),
    );
  }

  // Reserved IPv6.
  app.post('/v2/reserved_ipv6', async (request, reply) => {
    const parsed = parseIpv6Create(request.body);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    const resource = lifecycle.reserveIpv6(parsed.region);
    const { droplet: _unassigned, ...reserved } = ipv6View(lifecycle, store, resource, state.now());
    return reply.code(201).send({ reserved_ipv6: reserved });
  });

  app.get<{ Params: Params }>('/v2/reserved_ipv6/:reserved_ipv6', async (request, reply) => {
    const address = find('reserved_ipv6', ipv6Param(request.params.reserved_ipv6));
    if (address === undefined) return notFound(reply);
    return reply.send({ reserved_ipv6: ipv6View(lifecycle, store, address, state.now()) });
  });

  app.delete<{ Params: Params }>(
    '/v2/reserved_ipv6/:reserved_ipv6',
    remove('reserved_ipv6', 'reserved_ipv6', ipv6Param),
  );

  app.post<{ Params: Params }>('/v2/reserved_ipv6/:reserved_ipv6/actions', async (request, reply) => {
    const address = find('reserved_ipv6', ipv6Param(request.params.reserved_ipv6));
    if (address === undefined) return notFound(reply);
    const parsed = parseAddressAction(request.body);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    const action = lifecycle.startAddressAction('reserved_ipv6', address, parsed.action);
    return reply.code(201).send({ action: actionView(action, state.now()) });
  });

  // NFS shares.
  app.post('/v2/nfs', async (request, reply) => {
    const parsed = parseShareCreate(request.body);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    return reply.code(201).send({ share: shareView(lifecycle, lifecycle.createShare(parsed), state.now()) });
  });

  app.get<{ Params: Params }>('/v2/nfs/:nfs_id', async (request, reply) => {
    const share = find('nfs', uuidParam(request.params.nfs_id));
    if (share === undefined) return notFound(reply);
    return reply.send({ share: shareView(lifecycle, share, state.now()) });
  });

  app.delete<{ Params: Params }>('/v2/nfs/:nfs_id', remove('nfs', 'nfs_id', uuidParam));

  app.post<{ Params: Params }>('/v2/nfs/:nfs_id/actions', async (request, reply) => {
    const share = find('nfs', uuidParam(request.params.nfs_id));
    if (share === undefined) return notFound(reply);
    const parsed = parseShareAction(request.body);
    if (!parsed.ok) return unprocessable(reply, parsed.message);
    const action = lifecycle.startShareAction(share, parsed.action);
    return reply.code(201).send({ action: shareActionView(action, state.now()) });
  });
}
