import { authOf, type ApiDeps } from '../context';
import {
  emptyQuerySchema,
  limitOffset,
  listBody,
  listResponseSchema,
  pageQuerySchema,
} from '../schemas/common.schemas';
import {
  createPoolBodySchema,
  POOL_NAME_PATTERN,
  poolAcceptedResponseSchema,
  poolViewSchema,
} from '../schemas/pools.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import { createPool, deletePool, listPools } from '../services/pools.service';
import { clusterIdParam } from './clusters.routes';
import type { RouteTable } from './route-table';

const validCreate = bodyValidator(createPoolBodySchema);
const validList = queryValidator(pageQuerySchema);
const validNoQuery = queryValidator(emptyQuerySchema);

export function addPoolRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'post',
      path: '/v1/clusters/{id}/pools',
      operationId: 'createPool',
      summary: 'Create a pool',
      description:
        'Validated against the cluster: a replicated size (replication_factor) or erasure k+m above its failure domains is refused, and min_size must stay below size. Then the profile, the pool, size, application and autoscale mode are set and read back. Returns at once with the operation.',
      tag: 'Pools',
      auth: true,
      pathParams: clusterIdParam,
      body: createPoolBodySchema,
      responses: {
        202: {
          description: 'Accepted: the pool is `creating`; poll the operation.',
          schema: poolAcceptedResponseSchema,
        },
        400: {
          description:
            '`validation_error`: e.g. replication_factor 1 (min_size would equal size), replication_factor on an erasure pool.',
        },
        409: {
          description:
            '`insufficient_failure_domains`, `name_taken`, `invalid_state` (the cluster is not running), `resource_busy`.',
        },
      },
    },
    async (ctx) => {
      const body = parse(validCreate, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      ctx.status = 202;
      ctx.body = {
        data: await createPool(
          { ...deps, logger: ctx.state.logger },
          authOf(ctx),
          ctx.state.requestId,
          ctx.params.id ?? '',
          body,
        ),
      };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/clusters/{id}/pools',
      operationId: 'listPools',
      summary: 'List pools',
      description: 'Pools NodeFoundry created in the cluster, newest first.',
      tag: 'Pools',
      auth: true,
      pathParams: clusterIdParam,
      query: pageQuerySchema,
      responses: { 200: { description: 'A page of pools.', schema: listResponseSchema(poolViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const { rows, total } = await listPools(deps, authOf(ctx), ctx.params.id ?? '', limitOffset(q));
      ctx.body = listBody(rows, total, q);
    },
  );

  table.add(
    {
      method: 'delete',
      path: '/v1/clusters/{id}/pools/{name}',
      operationId: 'deletePool',
      summary: 'Delete a pool',
      description: 'Destroys the pool and its data (`ceph osd pool rm`). Requires `X-Confirm-Delete: true`.',
      tag: 'Pools',
      auth: true,
      confirmDelete: { required: true },
      pathParams: [...clusterIdParam, { name: 'name', pattern: POOL_NAME_PATTERN, description: 'Pool name.' }],
      responses: {
        202: {
          description: 'Accepted: the pool is `deleting`; poll the operation.',
          schema: poolAcceptedResponseSchema,
        },
        400: { description: '`confirmation_required`: the X-Confirm-Delete: true header is missing.' },
        404: { description: '`cluster_not_found`, `pool_not_found`.' },
      },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const data = await deletePool(
        { ...deps, logger: ctx.state.logger },
        authOf(ctx),
        ctx.state.requestId,
        ctx.params.id ?? '',
        ctx.params.name ?? '',
        ctx.get('x-confirm-delete') || undefined,
      );
      ctx.status = 202;
      ctx.body = { data };
    },
  );
}
