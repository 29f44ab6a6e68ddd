import { idPattern, isId } from '../../lib/ids';
import { authOf, type ApiDeps } from '../context';
import { dryRunQuerySchema, planResponseSchema } from '../schemas/common.schemas';
import { removeNodeAcceptedResponseSchema } from '../schemas/remove-node.schemas';
import { parse, queryValidator } from '../schemas/validation';
import { planRemoveClusterNode, removeClusterNode } from '../services/cluster-node-removal.service';
import { requireDeleteConfirmation } from '../services/clusters.service';
import { clusterNotFound, getClusterOr404 } from '../services/osds.service';
import { ApiError } from '../errors';
import type { RouteTable } from './route-table';

const validDryRun = queryValidator(dryRunQuerySchema);

/** DELETE /v1/clusters/{id}/nodes/{node_id}: a host leaves its cluster (issue 13 item 4). */
export function addRemoveNodeRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'delete',
      path: '/v1/clusters/{id}/nodes/{node_id}',
      operationId: 'removeClusterNode',
      summary: 'Remove a host from a cluster',
      description:
        "Removes the node's host from the cluster and returns the node to `ready`: refused first (409 with the figures) when the remaining hosts cannot hold the data below Ceph's nearfull ratio (`insufficient_capacity`) or fewer failure domains would remain than a pool keeps copies or shards on (`insufficient_failure_domains`), or when the node is the cluster's admin node (`invalid_state`). Then mons and mgrs on the host move to other hosts (same count), every OSD of the host is drained (CRUSH weight 0, PGs watched to 0) and checked safe to destroy, then purged, the host's devices zapped and the host removed from CRUSH. Cancel or failure before the purge restores the weights and the mon/mgr placement; from the purge on the removal finishes. Irreversible: requires `X-Confirm-Delete: true` (not for `dry_run=true`).",
      tag: 'Clusters',
      auth: true,
      pathParams: [
        { name: 'id', pattern: idPattern('cluster'), description: 'Cluster id (clus_…).' },
        { name: 'node_id', pattern: idPattern('node'), description: 'Node id (node_…) of a member of the cluster.' },
      ],
      confirmDelete: { required: false },
      query: dryRunQuerySchema,
      responses: {
        200: {
          description:
            'With `dry_run=true`: the plan (capacity and failure-domain figures, where mons and mgrs go, the OSDs drained, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: removeNodeAcceptedResponseSchema },
        400: { description: '`confirmation_required`: the X-Confirm-Delete: true header is missing.' },
        404: { description: '`cluster_not_found`, or `node_not_found`: the node is not a member of this cluster.' },
        409: {
          description:
            '`insufficient_capacity` or `insufficient_failure_domains` (the message gives the figures), `invalid_state` (the admin node, a cluster being created or deleted), `node_held`, `node_in_maintenance` (a member is in maintenance: `node_ids`; end it first), or `resource_busy`: an operation runs on the cluster or the node (`operation_id`).',
        },
      },
    },
    async (ctx) => {
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const clusterId = ctx.params.id ?? '';
      const nodeId = ctx.params.node_id ?? '';
      if (!isId('cluster', clusterId)) throw clusterNotFound(clusterId);
      if (!isId('node', nodeId))
        throw new ApiError('node_not_found', `Cluster ${clusterId} has no member node ${nodeId}.`);
      const d = { ...deps, logger: ctx.state.logger };
      if (query.dry_run) {
        ctx.body = { data: await planRemoveClusterNode(d, auth, ctx.state.requestId, clusterId, nodeId) };
        return;
      }
      const c = await getClusterOr404(deps, auth, clusterId);
      requireDeleteConfirmation(ctx.get('x-confirm-delete'), `a host of cluster ${c.name}`);
      ctx.status = 202;
      ctx.body = { data: await removeClusterNode(d, auth, ctx.state.requestId, clusterId, nodeId) };
    },
  );
}
