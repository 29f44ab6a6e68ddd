import { idPattern, isId } from '../../lib/ids';
import { getScopedOperation, listOperations } from '../../db/repositories/operations.repository';
import { authOf, type ApiDeps, type AuthState } from '../context';
import { ApiError } from '../errors';
import {
  dataResponseSchema,
  emptyBodySchema,
  emptyQuerySchema,
  limitOffset,
  listBody,
  listResponseSchema,
} from '../schemas/common.schemas';
import { operationListQuerySchema, operationViewSchema } from '../schemas/operations.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import { cancelOperation, pauseOrResumeOperation, viewOperation } from '../services/operations.service';
import { pauseBodySchema } from '../schemas/upgrades.schemas';
import type { RouteTable } from './route-table';

const validList = queryValidator(operationListQuerySchema);
const validNoQuery = queryValidator(emptyQuerySchema);
const validNoBody = bodyValidator(emptyBodySchema);
const validPause = bodyValidator(pauseBodySchema);

const idParam = [{ name: 'id', pattern: idPattern('operation'), description: 'Operation id (op_…).' }];

async function operationOr404(deps: ApiDeps, auth: AuthState, params: Record<string, string | undefined>) {
  const id = params.id ?? '';
  const op = isId('operation', id) ? await getScopedOperation(deps.db, auth, id) : undefined;
  if (!op) throw new ApiError('operation_not_found', `No operation with ID ${id} exists in this account.`);
  return op;
}

export function addOperationRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'get',
      path: '/v1/operations',
      operationId: 'listOperations',
      summary: 'List operations',
      description:
        "Newest first, from the operations index (a running operation's live progress is on GET /v1/operations/{id}).",
      tag: 'Operations',
      auth: true,
      query: operationListQuerySchema,
      responses: { 200: { description: 'A page of operations.', schema: listResponseSchema(operationViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const { rows, total } = await listOperations(
        deps.db,
        authOf(ctx),
        {
          ...(q.cluster_id ? { clusterId: q.cluster_id } : {}),
          ...(q.node_id ? { nodeId: q.node_id } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.type ? { type: q.type } : {}),
          ...(q.request_id ? { requestId: q.request_id } : {}),
        },
        limitOffset(q),
      );
      const data = await Promise.all(rows.map((op) => viewOperation(deps, op, false)));
      ctx.body = listBody(data, total, q);
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/operations/{id}',
      operationId: 'getOperation',
      summary: 'Get an operation',
      description:
        'Progress, steps and logs come from the running workflow; after it ends, from the stored final state.',
      tag: 'Operations',
      auth: true,
      pathParams: idParam,
      responses: { 200: { description: 'The operation.', schema: dataResponseSchema(operationViewSchema) } },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const op = await operationOr404(deps, authOf(ctx), ctx.params);
      ctx.body = { data: await viewOperation({ ...deps, logger: ctx.state.logger }, op) };
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/operations/{id}/cancel',
      operationId: 'cancelOperation',
      summary: 'Cancel an operation',
      description:
        'Requests cancellation; the workflow runs its compensation (flags unset, weights restored, nodes released) and ends `cancelled`.',
      tag: 'Operations',
      auth: true,
      pathParams: idParam,
      body: emptyBodySchema,
      bodyRequired: false,
      responses: {
        202: { description: 'Cancellation requested.', schema: dataResponseSchema(operationViewSchema) },
        409: {
          description:
            '`invalid_state`: the operation has already ended, or its cancellation was already requested (`cancel_requested_at`).',
        },
      },
    },
    async (ctx) => {
      parse(validNoBody, ctx.state.body ?? {}, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const opDeps = { ...deps, logger: ctx.state.logger };
      const op = await operationOr404(deps, authOf(ctx), ctx.params);
      await cancelOperation(opDeps, op);
      ctx.status = 202;
      ctx.body = { data: await viewOperation(opDeps, (await getScopedOperation(deps.db, authOf(ctx), op.id)) ?? op) };
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    table.add(
      {
        method: 'post',
        path: `/v1/operations/{id}/${action}`,
        operationId: `${action}Operation`,
        summary: action === 'pause' ? 'Pause an operation (upgrades)' : 'Resume a paused operation (upgrades)',
        description:
          action === 'pause'
            ? 'Takes effect at the next safe point: hosts in flight finish, no new one starts. The operation reports `paused` with the reason at once. Idempotent.'
            : 'Continues a paused upgrade; after a failure, the failed host is retried first.',
        tag: 'Operations',
        auth: true,
        pathParams: idParam,
        body: action === 'pause' ? pauseBodySchema : emptyBodySchema,
        bodyRequired: false,
        responses: {
          200: { description: 'The operation in its new state.', schema: dataResponseSchema(operationViewSchema) },
          409: {
            description: `\`invalid_state\`: the operation has ended, is not an upgrade${action === 'resume' ? ', or is not paused' : ', or is restoring the cluster after its last host'}.`,
          },
        },
      },
      async (ctx) => {
        const body =
          action === 'pause'
            ? parse(validPause, ctx.state.body ?? {}, 'body')
            : parse(validNoBody, ctx.state.body ?? {}, 'body');
        parse(validNoQuery, { ...ctx.query }, 'query');
        const opDeps = { ...deps, logger: ctx.state.logger };
        const op = await operationOr404(deps, authOf(ctx), ctx.params);
        await pauseOrResumeOperation(opDeps, op, action, 'reason' in body ? body.reason : undefined);
        ctx.body = { data: await viewOperation(opDeps, op) };
      },
    );
  }
}
