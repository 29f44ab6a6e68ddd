import { idPattern, isId } from '../../lib/ids';
import { authOf, type ApiDeps } from '../context';
import { ApiError } from '../errors';
import { dryRunQuerySchema, planResponseSchema } from '../schemas/common.schemas';
import { upgradeAcceptedResponseSchema, upgradeClusterBodySchema } from '../schemas/upgrades.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import { planUpgrade, upgradeCluster } from '../services/upgrades.service';
import type { RouteTable } from './route-table';

const validUpgrade = bodyValidator(upgradeClusterBodySchema);
const validDryRun = queryValidator(dryRunQuerySchema);

const idParam = [{ name: 'id', pattern: idPattern('cluster'), description: 'Cluster id (clus_…).' }];

export function addUpgradeRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'post',
      path: '/v1/clusters/{id}/upgrade',
      operationId: 'upgradeCluster',
      summary: 'Rolling upgrade (or rolling restart) of a cluster',
      description:
        'Preflight (refused on HEALTH_ERR, a mon out of quorum, an offline host, < 2 mgrs, a downgrade, a jump of more than 2 releases), PG autoscaling frozen, mgrs (standbys, failover), mons one at a time, then OSD hosts in batches of at most `max_concurrent` that `ceph osd ok-to-stop` accepts, one child workflow per host; autoscaling restored. Any failure pauses the operation with its reason: `POST /v1/operations/{id}/resume` retries, `/cancel` restores. The cluster and every member node are locked while it runs.',
      tag: 'Clusters',
      auth: true,
      pathParams: idParam,
      query: dryRunQuerySchema,
      body: upgradeClusterBodySchema,
      bodyRequired: false,
      responses: {
        200: {
          description: 'With `dry_run=true`: the plan (steps, host batches, gates, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: upgradeAcceptedResponseSchema },
        409: {
          description:
            '`resource_busy` (an operation runs on the cluster or one of its nodes; `operation_id`), `node_held` (a member is on hold; `node_ids`), `node_in_maintenance` (a member is in maintenance; `node_ids`) or `invalid_state`.',
        },
      },
    },
    async (ctx) => {
      const body = parse(validUpgrade, ctx.state.body ?? {}, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const id = ctx.params.id ?? '';
      if (!isId('cluster', id))
        throw new ApiError('cluster_not_found', `No cluster with ID ${id} exists in this account.`);
      const opDeps = { ...deps, logger: ctx.state.logger };
      if (query.dry_run) {
        ctx.body = { data: await planUpgrade(opDeps, authOf(ctx), ctx.state.requestId, id, body) };
        return;
      }
      ctx.status = 202;
      ctx.body = { data: await upgradeCluster(opDeps, authOf(ctx), ctx.state.requestId, id, body) };
    },
  );
}
