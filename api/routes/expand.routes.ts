import { idPattern, isId } from '../../lib/ids';
import { authOf, type ApiDeps } from '../context';
import { dryRunQuerySchema, planResponseSchema } from '../schemas/common.schemas';
import { expandAcceptedResponseSchema, expandClusterBodySchema } from '../schemas/expand.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import { expandCluster, planExpand } from '../services/expand.service';
import { clusterNotFound } from '../services/osds.service';
import type { RouteTable } from './route-table';

const validExpand = bodyValidator(expandClusterBodySchema);
const validDryRun = queryValidator(dryRunQuerySchema);

const idParam = [{ name: 'id', pattern: idPattern('cluster'), description: 'Cluster id (clus_…).' }];

export function addExpandRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'post',
      path: '/v1/clusters/{id}/nodes',
      operationId: 'expandCluster',
      summary: 'Add hosts to a running cluster',
      description:
        "Preflight (nodes ready, in no cluster, not held, not in maintenance; no member host in maintenance; a rack/zone label where the failure domain needs one; raw use after the move below the nearfull ratio 0.85, else 409 `insufficient_capacity` saying by how much), the nodes powered on and added as hosts, an OSD at CRUSH weight 0 on every healthy drive, then the new OSDs' weights raised to full in steps that each misplace at most `max_misplaced_ratio` of the objects, each step only when the cluster is not HEALTH_ERR and the previous step's backfill settled. Pausable between steps (`POST /v1/operations/{id}/pause`, `/resume`); a failed step pauses it. Cancel puts the new OSDs' weights back to 0: the hosts stay in the cluster with empty OSDs (docs/operators.md). Locks the cluster and the new nodes.",
      tag: 'Clusters',
      auth: true,
      pathParams: idParam,
      query: dryRunQuerySchema,
      body: expandClusterBodySchema,
      responses: {
        200: {
          description:
            'With `dry_run=true`: the plan (capacity before and after, the weight steps, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: expandAcceptedResponseSchema },
        404: { description: '`cluster_not_found` or `node_not_found`.' },
        409: {
          description:
            "`resource_busy` (an operation runs on the cluster or a node; `operation_id`), `node_in_cluster`, `node_held`, `node_in_maintenance`, `insufficient_capacity` (with the figures), `insufficient_failure_domains` or `invalid_state` (`reason`: the planner's code where the API has none of its own).",
        },
      },
    },
    async (ctx) => {
      const body = parse(validExpand, ctx.state.body, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const id = ctx.params.id ?? '';
      if (!isId('cluster', id)) throw clusterNotFound(id);
      const opDeps = { ...deps, logger: ctx.state.logger };
      if (query.dry_run) {
        ctx.body = { data: await planExpand(opDeps, authOf(ctx), ctx.state.requestId, id, body) };
        return;
      }
      ctx.status = 202;
      ctx.body = { data: await expandCluster(opDeps, authOf(ctx), ctx.state.requestId, id, body) };
    },
  );
}
