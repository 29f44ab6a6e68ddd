import type { Event } from '../../db/database';
import { listEvents } from '../../db/repositories/events.repository';
import { authOf, type ApiDeps } from '../context';
import { limitOffset, listBody, listResponseSchema } from '../schemas/common.schemas';
import { eventListQuerySchema, eventViewSchema } from '../schemas/events.schemas';
import { parse, queryValidator } from '../schemas/validation';
import type { RouteTable } from './route-table';

const validList = queryValidator(eventListQuerySchema);

export function eventView(e: Event) {
  return {
    id: e.id,
    type: e.type,
    sequence: Number(e.seq),
    cluster_id: e.cluster_id,
    node_id: e.node_id,
    operation_id: e.operation_id,
    data: e.data,
    created_at: e.created_at.toISOString(),
  };
}

export function addEventRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'get',
      path: '/v1/events',
      operationId: 'listEvents',
      summary: 'List events',
      description:
        'Newest first (by `sequence`). Every status change of an operation, a cluster or a node, written in the same database transaction as the change.',
      tag: 'Events',
      auth: true,
      query: eventListQuerySchema,
      responses: { 200: { description: 'A page of events.', schema: listResponseSchema(eventViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const { rows, total } = await listEvents(
        deps.db,
        authOf(ctx),
        {
          ...(q.type ? { type: q.type } : {}),
          ...(q.cluster_id ? { clusterId: q.cluster_id } : {}),
          ...(q.node_id ? { nodeId: q.node_id } : {}),
          ...(q.operation_id ? { operationId: q.operation_id } : {}),
        },
        limitOffset(q),
      );
      ctx.body = listBody(rows.map(eventView), total, q);
    },
  );
}
