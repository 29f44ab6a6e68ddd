import { idPattern, isId } from '../../lib/ids';
import * as nodes from '../../db/repositories/nodes.repository';
import { authOf, type ApiDeps } from '../context';
import {
  dataResponseSchema,
  dryRunQuerySchema,
  emptyQuerySchema,
  limitOffset,
  listBody,
  listResponseSchema,
  planResponseSchema,
} from '../schemas/common.schemas';
import {
  enterMaintenanceBodySchema,
  maintenanceAcceptedResponseSchema,
  nodeListQuerySchema,
  nodeViewSchema,
  patchNodeBodySchema,
  rebootAcceptedResponseSchema,
  rebootNodeBodySchema,
  registeredNodeResponseSchema,
  registerNodeBodySchema,
} from '../schemas/nodes.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import {
  deleteNode,
  enterMaintenance,
  exitMaintenance,
  getNodeOr404,
  nodeNotFound,
  nodeView,
  nodeViews,
  rebootNode,
  registerNode,
  setNodeHold,
} from '../services/nodes.service';
import { planOperation } from '../services/plan.service';
import type { RouteTable } from './route-table';

const validRegister = bodyValidator(registerNodeBodySchema);
const validPatch = bodyValidator(patchNodeBodySchema);
const validReboot = bodyValidator(rebootNodeBodySchema);
const validEnterMaintenance = bodyValidator(enterMaintenanceBodySchema);
const validList = queryValidator(nodeListQuerySchema);
const validNoQuery = queryValidator(emptyQuerySchema);
const validDryRun = queryValidator(dryRunQuerySchema);

const idParam = [{ name: 'id', pattern: idPattern('node'), description: 'Node id (node_…).' }];

/** Ids that cannot be node ids are simply not found (404), like any other unknown node. */
function nodeIdOf(params: Record<string, string | undefined>): string {
  const id = params.id ?? '';
  if (!isId('node', id)) throw nodeNotFound(id);
  return id;
}

export function addNodeRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'post',
      path: '/v1/nodes',
      operationId: 'registerNode',
      summary: 'Register a node',
      description:
        'Stores the node (credentials encrypted, never returned) and starts its inventory operation: SSH host key pinned, CPU, memory, drives and SMART read, BMC checked; the node then becomes `ready`. With a sandbox key the machine is simulated.',
      tag: 'Nodes',
      auth: true,
      body: registerNodeBodySchema,
      responses: {
        202: {
          description: 'Registered; the inventory operation runs (`operation_id`).',
          schema: registeredNodeResponseSchema,
        },
        409: {
          description: '`address_in_use`: another node already uses ip_address or ipmi_address (`field`, `node_id`).',
        },
      },
    },
    async (ctx) => {
      const body = parse(validRegister, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const data = await registerNode({ ...deps, logger: ctx.state.logger }, auth, ctx.state.requestId, body);
      ctx.status = 202;
      ctx.body = { data };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/nodes',
      operationId: 'listNodes',
      summary: 'List nodes',
      description: 'All registered nodes of this account and environment, newest first.',
      tag: 'Nodes',
      auth: true,
      query: nodeListQuerySchema,
      responses: { 200: { description: 'A page of nodes.', schema: listResponseSchema(nodeViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      // One round trip: page, locks and total together (issue 14, docs/development.md).
      const { rows, total } = await nodes.listNodesWithLocks(
        deps.db,
        auth,
        { ...(q.cluster_id ? { clusterId: q.cluster_id } : {}), ...(q.status ? { status: q.status } : {}) },
        limitOffset(q),
      );
      ctx.body = listBody(
        rows.map((r) => nodeView(r.node, r.currentOperationId)),
        total,
        q,
      );
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/nodes/{id}',
      operationId: 'getNode',
      summary: 'Get a node',
      tag: 'Nodes',
      auth: true,
      pathParams: idParam,
      responses: { 200: { description: 'The node.', schema: dataResponseSchema(nodeViewSchema) } },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const node = await getNodeOr404(deps, authOf(ctx), nodeIdOf(ctx.params));
      ctx.body = { data: (await nodeViews(deps, [node]))[0] };
    },
  );

  table.add(
    {
      method: 'patch',
      path: '/v1/nodes/{id}',
      operationId: 'updateNode',
      summary: 'Hold or release a node',
      description:
        'A held node (`state: "hold"`) is never picked for new work; its reboot and upgrade steps refuse with 409 `node_held`.',
      tag: 'Nodes',
      auth: true,
      pathParams: idParam,
      body: patchNodeBodySchema,
      responses: { 200: { description: 'The updated node.', schema: dataResponseSchema(nodeViewSchema) } },
    },
    async (ctx) => {
      const body = parse(validPatch, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      ctx.body = { data: await setNodeHold(deps, authOf(ctx), nodeIdOf(ctx.params), body.state === 'hold') };
    },
  );

  table.add(
    {
      method: 'delete',
      path: '/v1/nodes/{id}',
      operationId: 'deleteNode',
      summary: 'Delete a node',
      description: 'Only a node in no cluster and with no running operation (409 otherwise).',
      tag: 'Nodes',
      auth: true,
      pathParams: idParam,
      responses: {
        204: { description: 'Deleted.' },
        409: {
          description: '`invalid_state` (in a cluster) or `resource_busy` (an operation is running; `operation_id`).',
        },
      },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      await deleteNode({ ...deps, logger: ctx.state.logger }, authOf(ctx), nodeIdOf(ctx.params));
      ctx.status = 204;
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/nodes/{id}/reboot',
      operationId: 'rebootNode',
      summary: 'Reboot a node',
      description:
        'Sets noout for the host, optionally stops its OSDs, power-cycles through IPMI (graceful: soft off, wait, on; hard: off, on), waits for SSH and the OSDs, unsets noout and waits for clean PGs. One operation at a time per node and per cluster.',
      tag: 'Nodes',
      auth: true,
      pathParams: idParam,
      query: dryRunQuerySchema,
      body: rebootNodeBodySchema,
      bodyRequired: false,
      responses: {
        200: {
          description: 'With `dry_run=true`: the plan (steps, gates, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: rebootAcceptedResponseSchema },
        409: {
          description:
            '`resource_busy` (another operation runs on the node or its cluster; `operation_id`), `node_held`, `node_in_maintenance` (end maintenance first), `invalid_state` (the node is not ready or online), or `not_ok_to_stop` (Ceph says the OSDs of this cluster member are not ok to stop, asked as the dry run asks; nothing was started).',
        },
      },
    },
    async (ctx) => {
      const body = parse(validReboot, ctx.state.body ?? {}, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const id = nodeIdOf(ctx.params);
      if (query.dry_run) {
        const auth = authOf(ctx);
        const node = await getNodeOr404(deps, auth, id);
        const plan = await planOperation(
          { ...deps, logger: ctx.state.logger },
          {
            type: 'node.reboot',
            accountId: auth.accountId,
            resourceId: id,
            requestId: ctx.state.requestId,
            params: { method: body.method, drainOsds: body.drain_osds },
            clusterId: node.cluster_id,
            nodeIds: [id],
            summary: (n) =>
              `reboot ${node.hostname}${n.cluster ? ` of cluster ${n.cluster.name}` : ''} (${body.method})`,
          },
        );
        ctx.body = { data: plan };
        return;
      }
      const data = await rebootNode({ ...deps, logger: ctx.state.logger }, authOf(ctx), ctx.state.requestId, id, body);
      ctx.status = 202;
      ctx.body = { data };
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/nodes/{id}/maintenance',
      operationId: 'enterNodeMaintenance',
      summary: 'Put a node in maintenance mode',
      description:
        "Long-lived maintenance (docs/operators.md \"Maintenance mode\"): for a cluster member, Ceph's ok-to-stop for the host's OSDs, noout set on the host, its OSDs stopped cleanly; optionally the machine powered off. The node's status becomes `maintenance` and stays so, through any restart, until DELETE ends it; meanwhile new work refuses the node (409 `node_in_maintenance`) and the cluster monitor neither probes it nor reports or repairs its noout.",
      tag: 'Nodes',
      auth: true,
      pathParams: idParam,
      query: dryRunQuerySchema,
      body: enterMaintenanceBodySchema,
      bodyRequired: false,
      responses: {
        200: {
          description: 'With `dry_run=true`: the plan (steps, gates, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: maintenanceAcceptedResponseSchema },
        409: {
          description:
            '`resource_busy` (another operation runs on the node or its cluster; `operation_id`), `node_held`, `invalid_state` (the node is not ready or online, or already in maintenance), or `not_ok_to_stop` (Ceph says the OSDs of this cluster member are not ok to stop; nothing was started).',
        },
      },
    },
    async (ctx) => {
      const body = parse(validEnterMaintenance, ctx.state.body ?? {}, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const id = nodeIdOf(ctx.params);
      const auth = authOf(ctx);
      if (query.dry_run) {
        const node = await getNodeOr404(deps, auth, id);
        const plan = await planOperation(
          { ...deps, logger: ctx.state.logger },
          {
            type: 'maintenance.enter',
            accountId: auth.accountId,
            resourceId: id,
            requestId: ctx.state.requestId,
            params: { powerOff: body.power_off },
            clusterId: node.cluster_id,
            nodeIds: [id],
            summary: (n) => `enter maintenance on ${node.hostname}${n.cluster ? ` of cluster ${n.cluster.name}` : ''}`,
          },
        );
        ctx.body = { data: plan };
        return;
      }
      const data = await enterMaintenance({ ...deps, logger: ctx.state.logger }, auth, ctx.state.requestId, id, body);
      ctx.status = 202;
      ctx.body = { data };
    },
  );

  table.add(
    {
      method: 'delete',
      path: '/v1/nodes/{id}/maintenance',
      operationId: 'exitNodeMaintenance',
      summary: 'End maintenance mode',
      description:
        "Powers the machine on if it is off, waits for SSH and the OSDs, unsets the noout maintenance set, waits for clean PGs; the node becomes `online` (`ready` outside a cluster). Works when the host never comes back: maintenance then ends anyway (noout unset so Ceph can recover elsewhere), the node becomes `offline`, and the completed operation's result says `host_back: false` and what is `left`.",
      tag: 'Nodes',
      auth: true,
      pathParams: idParam,
      query: dryRunQuerySchema,
      responses: {
        200: {
          description: 'With `dry_run=true`: the plan (steps, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: maintenanceAcceptedResponseSchema },
        409: {
          description:
            '`resource_busy` (another operation runs on the node or its cluster; `operation_id`) or `invalid_state` (the node is not in maintenance).',
        },
      },
    },
    async (ctx) => {
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const id = nodeIdOf(ctx.params);
      const auth = authOf(ctx);
      if (query.dry_run) {
        const node = await getNodeOr404(deps, auth, id);
        const plan = await planOperation(
          { ...deps, logger: ctx.state.logger },
          {
            type: 'maintenance.exit',
            accountId: auth.accountId,
            resourceId: id,
            requestId: ctx.state.requestId,
            params: {},
            clusterId: node.cluster_id,
            nodeIds: [id],
            summary: (n) => `exit maintenance on ${node.hostname}${n.cluster ? ` of cluster ${n.cluster.name}` : ''}`,
          },
        );
        ctx.body = { data: plan };
        return;
      }
      const data = await exitMaintenance({ ...deps, logger: ctx.state.logger }, auth, ctx.state.requestId, id);
      ctx.status = 202;
      ctx.body = { data };
    },
  );
}
