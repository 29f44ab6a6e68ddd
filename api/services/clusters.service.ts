import type { Transaction } from 'kysely';
import { ensureClusterMonitor } from '../../activities/cluster-monitor-start';
import type { Cluster, Database } from '../../db/database';
import * as clusters from '../../db/repositories/clusters.repository';
import { osdStates } from '../../db/repositories/osds.repository';
import { countPools } from '../../db/repositories/pools.repository';
import { runningOperationFor } from '../../db/repositories/operations.repository';
import { isId, newId } from '../../lib/ids';
import type { OperationPlan } from '../../workflows/contracts';
import { createClusterPlan, type CreateClusterParams } from '../../lib/plans/create-cluster.planner';
import type { ApiDeps, AuthState } from '../context';
import { ApiError, ERROR_STATUS, type ErrorCode } from '../errors';
import type { CreateClusterBody } from '../schemas/clusters.schemas';
import { startOperation } from './operations.service';
import { planOperation } from './plan.service';
import { withHosts } from '../../lib/workflow-summary';

/** A cluster as lists show it: the seed's fields plus failure domain, replication and what runs on it. */
export interface ClusterView {
  id: string;
  name: string;
  status: string;
  status_reason: string | null;
  ceph_version: string;
  ceph_point_version: string | null;
  node_count: number;
  osd_count: number;
  raw_capacity_tib: number;
  used_capacity_tib: number | null;
  failure_domain: string;
  replication_factor: number;
  deployment: string;
  current_operation_id: string | null;
  created_at: string;
}

export function clusterView(c: Cluster, nodeCount: number, currentOperationId: string | null): ClusterView {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    status_reason: c.status_reason,
    ceph_version: c.ceph_version,
    ceph_point_version: c.ceph_point_version,
    node_count: nodeCount,
    osd_count: c.osd_count,
    raw_capacity_tib: c.raw_capacity_tib,
    used_capacity_tib: c.used_capacity_tib,
    failure_domain: c.failure_domain,
    replication_factor: c.replication_factor,
    deployment: c.deployment,
    current_operation_id: currentOperationId,
    created_at: c.created_at.toISOString(),
  };
}

export function clusterNotFound(id: string): ApiError {
  return new ApiError('cluster_not_found', `No cluster with ID ${id} exists in this account.`);
}

export async function getClusterOr404(deps: Pick<ApiDeps, 'db'>, auth: AuthState, id: string): Promise<Cluster> {
  const c = isId('cluster', id) ? await clusters.getScopedCluster(deps.db, auth, id) : undefined;
  if (!c) throw clusterNotFound(id);
  return c;
}

export async function clusterViews(deps: Pick<ApiDeps, 'db'>, rows: Cluster[]): Promise<ClusterView[]> {
  const counts = await clusters.nodeCounts(
    deps.db,
    rows.map((c) => c.id),
  );
  return Promise.all(
    rows.map(async (c) => clusterView(c, counts.get(c.id) ?? 0, await runningOperationFor(deps.db, c.id))),
  );
}

/** Detail: members, health as last observed, capacity, the running operation. */
export async function clusterDetail(deps: Pick<ApiDeps, 'db'>, c: Cluster) {
  const members = await clusters.clusterNodes(deps.db, c.id);
  const osds = await osdStates(deps.db, c.id);
  const poolCount = await countPools(deps.db, c.id);
  return {
    ...clusterView(c, members.length, await runningOperationFor(deps.db, c.id)),
    fsid: c.fsid,
    admin_node_id: c.admin_node_id,
    health: { status: c.status, observed_at: c.observed_at?.toISOString() ?? null },
    capacity: {
      raw_capacity_tib: c.raw_capacity_tib,
      used_capacity_tib: c.used_capacity_tib,
      osd_count: c.osd_count,
      osds_up: osds.filter((o) => o.status === 'up').length,
      osds_in: osds.filter((o) => o.in).length,
    },
    nodes: members.map((n) => ({
      id: n.id,
      hostname: n.hostname,
      status: n.status,
      rack: n.rack,
      zone: n.zone,
      osd_count: osds.filter((o) => o.node_id === n.id).length,
    })),
    pool_count: poolCount,
    updated_at: c.updated_at.toISOString(),
  };
}

/** A planner's refusal as the API's error (its codes are API codes). */
export function refusalError(
  plan: Pick<OperationPlan, 'refusals'>,
  fields: Record<string, string> = {},
): ApiError | null {
  const r = plan.refusals[0];
  if (!r) return null;
  const code = (r.code in ERROR_STATUS ? r.code : 'invalid_state') as ErrorCode;
  return new ApiError(code, r.message, fields[r.code] ? { field: fields[r.code] } : {});
}

function paramsOf(body: CreateClusterBody): CreateClusterParams {
  return {
    name: body.name,
    nodeIds: body.node_ids,
    cephVersion: body.ceph_version,
    failureDomain: body.failure_domain,
    replicationFactor: body.replication_factor,
    deployment: body.deployment,
  };
}

const CREATE_FIELDS = {
  node_not_found: 'node_ids',
  validation_error: 'node_ids',
  insufficient_failure_domains: 'replication_factor',
  name_taken: 'name',
};

export interface ClusterAccepted {
  id: string;
  name: string;
  status: 'CREATING' | 'IMPORTING' | 'DELETING';
  operation_id: string;
}

/**
 * Accepts a cluster creation. In one transaction: the nodes are locked (operation_locks and their
 * rows), checked with the same planner the workflow's preflight runs, claimed (cluster_id), and the
 * cluster row is written CREATING; then the workflow starts.
 */
export async function createCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  body: CreateClusterBody,
): Promise<ClusterAccepted> {
  const clusterId = newId('cluster');
  const params = paramsOf(body);
  try {
    const op = await startOperation(deps, {
      accountId: auth.accountId,
      environment: auth.environment,
      type: 'cluster.create',
      requestId,
      primaryResourceId: clusterId,
      clusterId,
      lockResourceIds: [clusterId, ...body.node_ids],
      params: {
        name: body.name,
        node_ids: body.node_ids,
        ceph_version: body.ceph_version,
        failure_domain: body.failure_domain,
        replication_factor: body.replication_factor,
        deployment: body.deployment,
      },
      input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId }),
      summary: (n) =>
        withHosts(
          `Create ${body.ceph_version} cluster ${body.name}`,
          n.hosts.map((h) => h.hostname),
        ),
      precheck: async (trx: Transaction<Database>) => {
        const facts = await clusters.createClusterFacts(
          trx,
          auth,
          { clusterId: null, name: body.name, nodeIds: body.node_ids },
          true,
        );
        const refusal = refusalError(createClusterPlan(facts, params), CREATE_FIELDS);
        if (refusal) throw refusal;
      },
      onCreate: (trx) =>
        clusters.insertClusterClaimingNodes(
          trx,
          {
            id: clusterId,
            account_id: auth.accountId,
            environment: auth.environment,
            name: body.name,
            status: 'CREATING',
            ceph_version: body.ceph_version,
            failure_domain: body.failure_domain,
            replication_factor: body.replication_factor,
            deployment: body.deployment,
            admin_node_id: body.node_ids[0]!,
          },
          body.node_ids,
        ),
    });
    await ensureClusterMonitor(deps.temporal, deps.config, deps.logger, {
      id: clusterId,
      name: body.name,
      account_id: auth.accountId,
      environment: auth.environment,
    });
    return { id: clusterId, name: body.name, status: 'CREATING', operation_id: op.id };
  } catch (err) {
    throw nameTakenOr(err, body.name);
  }
}

/** A concurrent request that took the name first (the unique constraint) is 409 name_taken, like the precheck's. */
export function nameTakenOr(err: unknown, name: string): unknown {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  if (e && e.code === '23505' && e.constraint === 'clusters_name_unique') {
    return new ApiError('name_taken', `A cluster named ${name} already exists.`, { field: 'name' });
  }
  return err;
}

export async function planCreateCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  body: CreateClusterBody,
): Promise<OperationPlan> {
  return planOperation(deps, {
    type: 'cluster.create',
    accountId: auth.accountId,
    resourceId: `new-cluster-${body.name}`,
    requestId,
    params: { ...paramsOf(body), environment: auth.environment },
    nodeIds: body.node_ids,
    summary: (n) =>
      withHosts(
        `create ${body.ceph_version} cluster ${body.name}`,
        n.hosts.map((h) => h.hostname),
      ),
  });
}

/** `X-Confirm-Delete: true`, nothing else, confirms a destructive delete. */
export function requireDeleteConfirmation(header: string | string[] | undefined, what: string): void {
  const v = Array.isArray(header) ? header[0] : header;
  if ((v ?? '').trim().toLowerCase() !== 'true') {
    throw new ApiError(
      'confirmation_required',
      `Deleting ${what} destroys its data: send the header X-Confirm-Delete: true to confirm.`,
      {
        field: 'X-Confirm-Delete',
      },
    );
  }
}

/**
 * Accepts a cluster deletion: locks the cluster and its members, marks it DELETING (its previous
 * status is kept on the operation, for a deletion that fails before destroying anything).
 */
export async function deleteCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
): Promise<ClusterAccepted> {
  const cluster = await getClusterOr404(deps, auth, id);
  const members = (await clusters.clusterNodes(deps.db, id)).map((n) => n.id);
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'cluster.delete',
    requestId,
    primaryResourceId: id,
    clusterId: id,
    lockResourceIds: [id, ...members],
    params: { previous_status: cluster.status },
    input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId: id }),
    summary: (n) =>
      withHosts(
        `Delete cluster ${cluster.name}`,
        n.hosts.map((h) => h.hostname),
      ),
    precheck: async (trx) => {
      const c = await clusters.getScopedCluster(trx, auth, id, true);
      if (!c) throw clusterNotFound(id);
      const now = (await clusters.clusterNodes(trx, id)).map((n) => n.id);
      if (now.length !== members.length || now.some((n) => !members.includes(n))) {
        throw new ApiError(
          'conflict',
          `The members of cluster ${id} changed while the deletion was being requested; retry.`,
        );
      }
    },
    onCreate: async (trx) => {
      await clusters.updateCluster(trx, id, { status: 'DELETING', status_reason: null });
    },
  });
  return { id, name: cluster.name, status: 'DELETING', operation_id: op.id };
}

export async function planDeleteCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
): Promise<OperationPlan> {
  const cluster = await getClusterOr404(deps, auth, id);
  return planOperation(deps, {
    type: 'cluster.delete',
    accountId: auth.accountId,
    resourceId: id,
    requestId,
    params: {},
    clusterId: id,
    nodeIds: (await clusters.clusterNodes(deps.db, id)).map((n) => n.id),
    summary: (n) =>
      withHosts(
        `delete cluster ${cluster.name}`,
        n.hosts.map((h) => h.hostname),
      ),
  });
}
