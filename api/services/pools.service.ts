import type { Cluster, Pool } from '../../db/database';
import * as clusters from '../../db/repositories/clusters.repository';
import * as pools from '../../db/repositories/pools.repository';
import { newId } from '../../lib/ids';
import { createPoolPlan, DEFAULT_ERASURE_PROFILE, type PoolParams } from '../../lib/plans/create-pool.planner';
import type { ApiDeps, AuthState } from '../context';
import { ApiError } from '../errors';
import type { CreatePoolBody } from '../schemas/pools.schemas';
import { getClusterOr404, refusalError, requireDeleteConfirmation } from './clusters.service';
import { startOperation } from './operations.service';

export interface PoolView {
  id: string;
  cluster_id: string;
  name: string;
  type: Pool['type'];
  replication_factor: number | null;
  size: number;
  min_size: number;
  erasure_profile: string | null;
  k: number | null;
  m: number | null;
  pg_num: number;
  pg_autoscale: boolean;
  application: string | null;
  status: Pool['status'];
  status_reason: string | null;
  created_at: string;
  updated_at: string;
}

export function poolView(p: Pool): PoolView {
  return {
    id: p.id,
    cluster_id: p.cluster_id,
    name: p.name,
    type: p.type,
    replication_factor: p.type === 'replicated' ? p.size : null,
    size: p.size,
    min_size: p.min_size,
    erasure_profile: p.erasure_profile,
    k: p.k,
    m: p.m,
    pg_num: p.pg_num,
    pg_autoscale: p.pg_autoscale,
    application: p.application,
    status: p.status,
    status_reason: p.status_reason,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
  };
}

function poolNotFound(clusterId: string, name: string): ApiError {
  return new ApiError('pool_not_found', `Cluster ${clusterId} has no pool named ${name}.`);
}

function paramsOf(body: CreatePoolBody): PoolParams {
  if (body.type === 'erasure' && body.replication_factor != null) {
    throw new ApiError(
      'validation_error',
      'replication_factor applies to replicated pools; erasure pools take their size from erasure_profile.',
      { field: 'replication_factor' },
    );
  }
  if (body.type === 'replicated' && body.erasure_profile != null) {
    throw new ApiError('validation_error', 'erasure_profile applies to erasure pools.', { field: 'erasure_profile' });
  }
  return {
    name: body.name,
    type: body.type,
    replicationFactor: body.type === 'replicated' ? (body.replication_factor ?? 3) : null,
    erasureProfile: body.type === 'erasure' ? (body.erasure_profile ?? DEFAULT_ERASURE_PROFILE) : null,
    pgAutoscale: body.pg_autoscale,
    application: body.application ?? null,
  };
}

const POOL_FIELDS = {
  validation_error: 'replication_factor',
  insufficient_failure_domains: 'replication_factor',
  name_taken: 'name',
};

/**
 * Accepts a pool: validated against the cluster (failure domains, min_size < size) with the planner
 * the workflow's preflight runs, in the transaction that locks the cluster and writes the row.
 */
export async function createPool(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  body: CreatePoolBody,
): Promise<PoolView & { operation_id: string }> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  const params = paramsOf(body);
  const poolId = newId('pool');
  const fields = {
    ...POOL_FIELDS,
    ...(body.type === 'erasure' ? { insufficient_failure_domains: 'erasure_profile' } : {}),
  };
  try {
    const op = await startOperation(deps, {
      accountId: auth.accountId,
      environment: auth.environment,
      type: 'pool.create',
      requestId,
      primaryResourceId: poolId,
      clusterId,
      lockResourceIds: [clusterId, poolId],
      params: {
        pool_id: poolId,
        name: body.name,
        type: body.type,
        replication_factor: params.replicationFactor,
        erasure_profile: params.erasureProfile,
      },
      input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId, poolId }),
      summary: `Create ${body.type} pool ${body.name} in cluster ${cluster.name}`,
      precheck: async (trx) => {
        const c = (await clusters.getScopedCluster(trx, auth, clusterId, true)) as Cluster | undefined;
        if (!c) throw new ApiError('cluster_not_found', `No cluster with ID ${clusterId} exists in this account.`);
        const plan = createPoolPlan(
          {
            clusterId,
            status: c.status,
            failureDomain: c.failure_domain,
            failureDomains: await clusters.failureDomainCount(trx, clusterId, c.failure_domain),
            existingPools: await pools.poolNames(trx, clusterId),
          },
          params,
        );
        const refusal = refusalError(plan, fields);
        if (refusal) throw refusal;
      },
      onCreate: async (trx) => {
        const spec = createPoolPlan(
          {
            clusterId,
            status: 'HEALTH_OK',
            failureDomain: cluster.failure_domain,
            failureDomains: 0,
            existingPools: [],
          },
          params,
        ).spec;
        await pools.insertPool(trx, {
          id: poolId,
          cluster_id: clusterId,
          name: body.name,
          type: body.type,
          size: spec.size,
          min_size: spec.minSize,
          erasure_profile: params.erasureProfile,
          k: spec.k,
          m: spec.m,
          pg_num: spec.pgNum,
          pg_autoscale: body.pg_autoscale,
          application: params.application,
          status: 'creating',
        });
      },
    });
    const row = (await pools.getPoolById(deps.db, poolId))!;
    return { ...poolView(row), operation_id: op.id };
  } catch (err) {
    const e = err as { code?: unknown; constraint?: unknown };
    if (e && e.code === '23505' && e.constraint === 'pools_name_unique') {
      throw new ApiError('name_taken', `Cluster ${clusterId} already has a pool named ${body.name}.`, {
        field: 'name',
      });
    }
    throw err;
  }
}

export async function listPools(
  deps: ApiDeps,
  auth: AuthState,
  clusterId: string,
  page: { limit: number; offset: number },
) {
  await getClusterOr404(deps, auth, clusterId);
  const { rows, total } = await pools.listPools(deps.db, clusterId, page);
  return { rows: rows.map(poolView), total };
}

export async function deletePool(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  name: string,
  confirm: string | string[] | undefined,
): Promise<PoolView & { operation_id: string }> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  const pool = await pools.getPoolByName(deps.db, clusterId, name);
  if (!pool) throw poolNotFound(clusterId, name);
  requireDeleteConfirmation(confirm, `pool ${name}`);
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'pool.delete',
    requestId,
    primaryResourceId: pool.id,
    clusterId,
    lockResourceIds: [clusterId, pool.id],
    params: { pool_id: pool.id, name, previous_status: pool.status },
    input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId, poolId: pool.id }),
    summary: `Delete pool ${name} of cluster ${cluster.name}`,
    precheck: async (trx) => {
      if (!(await pools.getPoolByName(trx, clusterId, name, true))) throw poolNotFound(clusterId, name);
    },
    onCreate: async (trx) => {
      await pools.updatePool(trx, pool.id, { status: 'deleting', status_reason: null });
    },
  });
  return { ...poolView((await pools.getPoolById(deps.db, pool.id))!), operation_id: op.id };
}
