import { idPattern, isId } from '../../lib/ids';
import { authOf, type ApiDeps } from '../context';
import { ApiError } from '../errors';
import {
  dryRunQuerySchema,
  limitOffset,
  listBody,
  listResponseSchema,
  planResponseSchema,
} from '../schemas/common.schemas';
import {
  osdListQuerySchema,
  osdViewSchema,
  reweightAcceptedResponseSchema,
  replaceAcceptedResponseSchema,
  replaceOsdBodySchema,
  reweightOsdBodySchema,
} from '../schemas/osds.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import {
  clusterNotFound,
  getClusterOr404,
  getOsdOr404,
  listOsds,
  replaceOsd,
  replacementDeviceOf,
  reweightOsd,
} from '../services/osds.service';
import { planOperation } from '../services/plan.service';
import type { RouteTable } from './route-table';

const validReweight = bodyValidator(reweightOsdBodySchema);
const validReplace = bodyValidator(replaceOsdBodySchema);
const validList = queryValidator(osdListQuerySchema);
const validDryRun = queryValidator(dryRunQuerySchema);

const clusterParam = { name: 'id', pattern: idPattern('cluster'), description: 'Cluster id (clus_…).' };
const osdParam = { name: 'osd_id', pattern: '^[0-9]{1,9}$', description: 'OSD number, as Ceph gives it.' };

/** Ids that cannot be cluster ids are simply not found (404), like any other unknown cluster. */
function clusterIdOf(params: Record<string, string | undefined>): string {
  const id = params.id ?? '';
  if (!isId('cluster', id)) throw clusterNotFound(id);
  return id;
}

function osdIdOf(clusterId: string, params: Record<string, string | undefined>): number {
  const raw = params.osd_id ?? '';
  if (!/^[0-9]{1,9}$/.test(raw)) throw new ApiError('osd_not_found', `Cluster ${clusterId} has no OSD ${raw}.`);
  return Number(raw);
}

export function addOsdRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'get',
      path: '/v1/clusters/{id}/osds',
      operationId: 'listClusterOsds',
      summary: 'List cluster OSDs',
      description:
        "The cluster's OSDs as last recorded from Ceph (refreshed at the end of every cluster operation), by OSD number. `weight` is the CRUSH weight as a fraction of the device's full weight, the scale POST …/reweight takes.",
      tag: 'OSDs',
      auth: true,
      pathParams: [clusterParam],
      query: osdListQuerySchema,
      responses: { 200: { description: 'A page of OSDs.', schema: listResponseSchema(osdViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const { rows, total } = await listOsds(deps, authOf(ctx), clusterIdOf(ctx.params), limitOffset(q));
      ctx.body = listBody(rows, total, q);
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/clusters/{id}/osds/{osd_id}/reweight',
      operationId: 'reweightOsd',
      summary: 'Reweight or drain an OSD',
      description:
        "Sets the OSD's CRUSH weight to `weight` × the device's full weight and waits for backfill to settle. `weight: 0` drains the OSD: the original weight is recorded, the PG count watched to 0 (the operation's progress) and `ceph osd safe-to-destroy` must agree; the OSD stays up and in, ready to be removed. Cancel or failure restores the original weight. A drain that CRUSH can never complete fails with `drain_cannot_finish`. At most 2 reweights run per cluster, never beside a cluster-wide operation.",
      tag: 'OSDs',
      auth: true,
      pathParams: [clusterParam, osdParam],
      query: dryRunQuerySchema,
      body: reweightOsdBodySchema,
      responses: {
        200: {
          description:
            'With `dry_run=true`: the plan (steps, the weight it would record, PGs to move, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: reweightAcceptedResponseSchema },
        404: { description: '`cluster_not_found` or `osd_not_found`.' },
        409: {
          description:
            '`resource_busy`: the OSD, every reweight slot of the cluster, or the cluster itself is busy with another operation (`operation_id`).',
        },
      },
    },
    async (ctx) => {
      const body = parse(validReweight, ctx.state.body, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const clusterId = clusterIdOf(ctx.params);
      const osdId = osdIdOf(clusterId, ctx.params);
      if (query.dry_run) {
        const cluster = await getClusterOr404(deps, auth, clusterId);
        const osd = await getOsdOr404(deps, clusterId, osdId);
        const plan = await planOperation(
          { ...deps, logger: ctx.state.logger },
          {
            type: 'osd.reweight',
            accountId: auth.accountId,
            resourceId: clusterId,
            requestId: ctx.state.requestId,
            params: { osdId, weight: body.weight },
            clusterId,
            nodeIds: osd.node_id ? [osd.node_id] : [],
            summary: (n) =>
              `${body.weight === 0 ? 'drain' : 'reweight'} osd.${osdId}${osd.node_id ? ` on ${n.hostname(osd.node_id)}` : ''} of cluster ${cluster.name}${body.weight === 0 ? '' : ` to ${body.weight}`}`,
          },
        );
        ctx.body = { data: plan };
        return;
      }
      const data = await reweightOsd(
        { ...deps, logger: ctx.state.logger },
        auth,
        ctx.state.requestId,
        clusterId,
        osdId,
        body.weight,
      );
      ctx.status = 202;
      ctx.body = { data };
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/clusters/{id}/osds/{osd_id}/replace',
      operationId: 'replaceOsd',
      summary: 'Replace the disk of an OSD, keeping its id',
      description:
        "Replaces the OSD's disk and keeps its id, so CRUSH and data placement barely move. An OSD that is up and holds data is drained first (weight 0, PGs watched to 0, `ceph osd safe-to-destroy`); a failed (down) OSD must already be safe to destroy, else 409 `not_safe_to_destroy` with Ceph's reason and nothing changes. Then the old daemon is stopped, `ceph osd destroy` keeps the id, the new device is zapped and the OSD recreated on it with the same id, its weight restored (the same fraction of the new device's size), backfill watched to clean, and the node's drives re-read. Cancel or failure before the destroy restores the weight; after it the OSD is left destroyed (id kept) and the operation says so: run the replacement again to finish. Locks the OSD, its node and a reweight slot.",
      tag: 'OSDs',
      auth: true,
      pathParams: [clusterParam, osdParam],
      query: dryRunQuerySchema,
      body: replaceOsdBodySchema,
      responses: {
        200: {
          description:
            'With `dry_run=true`: the plan (how the OSD is emptied, the device, the steps, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: { description: 'Accepted; poll the operation.', schema: replaceAcceptedResponseSchema },
        404: { description: '`cluster_not_found` or `osd_not_found`.' },
        409: {
          description:
            '`not_safe_to_destroy` (a failed OSD whose PGs have no complete copy elsewhere yet), `device_not_available` (the device is not on the host or holds something), `invalid_state`, or `resource_busy` (`operation_id`).',
        },
      },
    },
    async (ctx) => {
      const body = parse(validReplace, ctx.state.body, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const clusterId = clusterIdOf(ctx.params);
      const osdId = osdIdOf(clusterId, ctx.params);
      const device = replacementDeviceOf(body.device);
      if (query.dry_run) {
        const cluster = await getClusterOr404(deps, auth, clusterId);
        const osd = await getOsdOr404(deps, clusterId, osdId);
        const plan = await planOperation(
          { ...deps, logger: ctx.state.logger },
          {
            type: 'osd.replace',
            accountId: auth.accountId,
            resourceId: clusterId,
            requestId: ctx.state.requestId,
            params: { osdId, device },
            clusterId,
            nodeIds: osd.node_id ? [osd.node_id] : [],
            summary: (n) =>
              `replace the disk of osd.${osdId}${osd.node_id ? ` on ${n.hostname(osd.node_id)}` : ''} of cluster ${cluster.name}`,
          },
        );
        ctx.body = { data: plan };
        return;
      }
      const data = await replaceOsd(
        { ...deps, logger: ctx.state.logger },
        auth,
        ctx.state.requestId,
        clusterId,
        osdId,
        device,
      );
      ctx.status = 202;
      ctx.body = { data };
    },
  );
}
