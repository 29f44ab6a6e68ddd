import { idPattern } from '../../lib/ids';
import * as clusters from '../../db/repositories/clusters.repository';
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
  clusterAcceptedResponseSchema,
  clusterDetailSchema,
  clusterListQuerySchema,
  clusterViewSchema,
  createClusterBodySchema,
  importClusterBodySchema,
} from '../schemas/clusters.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import {
  clusterDetail,
  clusterViews,
  createCluster,
  deleteCluster,
  getClusterOr404,
  planCreateCluster,
  planDeleteCluster,
  requireDeleteConfirmation,
} from '../services/clusters.service';
import { importCluster } from '../services/cluster-import.service';
import { clusterHealth } from '../services/cluster-health.service';
import { clusterHealthSchema } from '../schemas/cluster-health.schemas';
import type { RouteTable } from './route-table';

const validCreate = bodyValidator(createClusterBodySchema);
const validImport = bodyValidator(importClusterBodySchema);
const validList = queryValidator(clusterListQuerySchema);
const validNoQuery = queryValidator(emptyQuerySchema);
const validDryRun = queryValidator(dryRunQuerySchema);

export const clusterIdParam = [{ name: 'id', pattern: idPattern('cluster'), description: 'Cluster id (clus_…).' }];

export function addClusterRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'get',
      path: '/v1/clusters',
      operationId: 'listClusters',
      summary: 'List clusters',
      description: 'Clusters of this account and environment, newest first.',
      tag: 'Clusters',
      auth: true,
      query: clusterListQuerySchema,
      responses: { 200: { description: 'A page of clusters.', schema: listResponseSchema(clusterViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const { rows, total } = await clusters.listClusters(
        deps.db,
        authOf(ctx),
        q.status ? { status: q.status } : {},
        limitOffset(q),
      );
      ctx.body = listBody(await clusterViews(deps, rows), total, q);
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/clusters',
      operationId: 'createCluster',
      summary: 'Create a cluster',
      description:
        'Provisions a Ceph cluster from ready nodes with its deployer (`deployment`: `packages` by default — Debian packages and systemd units over SSH — or `cephadm`): bootstrap on the first node, hosts added, mons and mgrs placed across failure domains, OSDs on every drive that passed SMART, a CRUSH rule for the failure domain, HEALTH_OK gate). Returns at once; poll the operation.',
      tag: 'Clusters',
      auth: true,
      query: dryRunQuerySchema,
      body: createClusterBodySchema,
      responses: {
        200: {
          description:
            'With `dry_run=true`: the plan (steps, mon/mgr placement, OSD devices, refusals); nothing was changed.',
          schema: planResponseSchema,
        },
        202: {
          description: 'Accepted: the cluster is CREATING; poll the operation.',
          schema: clusterAcceptedResponseSchema,
        },
        404: {
          description: '`node_not_found`: a node id is not a node of this account and environment (`field: node_ids`).',
        },
        409: {
          description:
            '`name_taken`, `node_held`, `node_in_cluster`, `invalid_state` (a node is not ready or has no healthy drive), `insufficient_failure_domains` (replication_factor above the failure domains), `resource_busy`.',
        },
      },
    },
    async (ctx) => {
      const body = parse(validCreate, ctx.state.body, 'body');
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const d = { ...deps, logger: ctx.state.logger };
      if (query.dry_run) {
        ctx.body = { data: await planCreateCluster(d, auth, ctx.state.requestId, body) };
        return;
      }
      ctx.status = 202;
      ctx.body = { data: await createCluster(d, auth, ctx.state.requestId, body) };
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/clusters/import',
      operationId: 'importCluster',
      summary: 'Import an existing cluster',
      description:
        'Adopts a Ceph cluster NodeFoundry did not create, so that it can reboot, drain, restart, upgrade and extend it. Register its hosts as nodes first (they must be ready). The import checks SSH to every member, reads Ceph through the admin node (fsid, health, daemon versions and hosts, OSDs, pools, CRUSH rules) and records it; it changes nothing on the cluster. Returns at once; poll the operation. It fails (and leaves no cluster behind) with `unknown_hosts` when Ceph runs daemons on a host that is not among node_ids, `already_imported` when the fsid is managed already, or the reason Ceph could not be read.',
      tag: 'Clusters',
      auth: true,
      query: emptyQuerySchema,
      body: importClusterBodySchema,
      responses: {
        202: {
          description: 'Accepted: the cluster is IMPORTING; poll the operation.',
          schema: clusterAcceptedResponseSchema,
        },
        400: { description: '`validation_error` (e.g. admin_node_id not among node_ids).' },
        404: {
          description: '`node_not_found`: a node id is not a node of this account and environment (`field: node_ids`).',
        },
        409: {
          description:
            '`name_taken`, `node_held`, `node_in_cluster`, `invalid_state` (a node is not ready), `resource_busy`.',
        },
      },
    },
    async (ctx) => {
      const body = parse(validImport, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      ctx.status = 202;
      ctx.body = {
        data: await importCluster({ ...deps, logger: ctx.state.logger }, authOf(ctx), ctx.state.requestId, body),
      };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/clusters/{id}',
      operationId: 'getCluster',
      summary: 'Get a cluster',
      description: 'Detail: members, health and capacity as last observed, the running operation.',
      tag: 'Clusters',
      auth: true,
      pathParams: clusterIdParam,
      responses: { 200: { description: 'The cluster.', schema: dataResponseSchema(clusterDetailSchema) } },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const c = await getClusterOr404(deps, authOf(ctx), ctx.params.id ?? '');
      ctx.body = { data: await clusterDetail(deps, c) };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/clusters/{id}/health',
      operationId: 'getClusterHealth',
      summary: "Get a cluster's health",
      description:
        "What the cluster monitor last read from Ceph (every NF_MONITOR_INTERVAL_MS; `observed_at` says when): the health checks in effect with `since` (Ceph's and NodeFoundry's own NF_* drift checks), flags and per-host noout, the autoscale freeze, OSDs down or out, mons, mgr, PGs. Reads only the database.",
      tag: 'Clusters',
      auth: true,
      pathParams: clusterIdParam,
      responses: { 200: { description: "The cluster's health.", schema: dataResponseSchema(clusterHealthSchema) } },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const c = await getClusterOr404(deps, authOf(ctx), ctx.params.id ?? '');
      ctx.body = { data: await clusterHealth(deps, c) };
    },
  );

  table.add(
    {
      method: 'delete',
      path: '/v1/clusters/{id}',
      operationId: 'deleteCluster',
      summary: 'Delete a cluster',
      description:
        'Destroys every Ceph service and wipes the OSD devices; the nodes return to `pending` and the cluster disappears (404). Irreversible: requires `X-Confirm-Delete: true` (not for `dry_run=true`).',
      tag: 'Clusters',
      auth: true,
      pathParams: clusterIdParam,
      confirmDelete: { required: false },
      query: dryRunQuerySchema,
      responses: {
        200: { description: 'With `dry_run=true`: the plan; nothing was changed.', schema: planResponseSchema },
        202: {
          description: 'Accepted: the cluster is DELETING; poll the operation.',
          schema: clusterAcceptedResponseSchema,
        },
        400: { description: '`confirmation_required`: the X-Confirm-Delete: true header is missing.' },
        409: { description: '`resource_busy`: an operation runs on the cluster or one of its nodes.' },
      },
    },
    async (ctx) => {
      const query = parse(validDryRun, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const id = ctx.params.id ?? '';
      const d = { ...deps, logger: ctx.state.logger };
      if (query.dry_run) {
        ctx.body = { data: await planDeleteCluster(d, auth, ctx.state.requestId, id) };
        return;
      }
      const c = await getClusterOr404(deps, auth, id);
      requireDeleteConfirmation(ctx.get('x-confirm-delete'), `cluster ${c.name}`);
      ctx.status = 202;
      ctx.body = { data: await deleteCluster(d, auth, ctx.state.requestId, id) };
    },
  );
}
