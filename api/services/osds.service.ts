import { isId } from '../../lib/ids';
import type { Cluster, Osd } from '../../db/database';
import { getClusterById, getScopedCluster } from '../../db/repositories/clusters.repository';
import { lockHolders } from '../../db/repositories/operations.repository';
import * as osds from '../../db/repositories/osds.repository';
import type { ApiDeps, AuthState } from '../context';
import { ApiError } from '../errors';
import { startOperation } from './operations.service';
import { synchronousRefusal } from './plan.service';
import { REPLACE_FAILURE } from '../../lib/plans/replace-osd.planner';

/**
 * Reweights and drains that may run at once in one cluster: `config.drainSlotsPerCluster`
 * (NF_DRAIN_SLOTS, default 2). Each holds one slot (a row in operation_locks) besides its OSD, so
 * the limit holds across API processes; whether the drains may empty their OSDs together is Ceph's
 * ok-to-stop, asked by each drain's preflight.
 */
export const reweightSlotPrefix = (clusterId: string) => `${clusterId}/reweight-slot`;
export const osdLockId = (clusterId: string, osdId: number) => `${clusterId}/osd.${osdId}`;

export interface OsdView {
  osd_id: number;
  node_id: string | null;
  host: string;
  device: string;
  device_class: string | null;
  status: 'up' | 'down';
  in: boolean;
  weight: number;
  crush_weight: number;
  reweight: number;
  capacity_gb: number;
  used_gb: number;
  pgs: number;
  current_operation_id: string | null;
  updated_at: string;
}

/** The device's full CRUSH weight (TiB) from its capacity; the API's weight is a fraction of it. */
function fullWeight(o: Osd): number {
  return (o.capacity_gb * 1e9) / 2 ** 40;
}

export function osdView(o: Osd, currentOperationId: string | null): OsdView {
  const full = fullWeight(o);
  return {
    osd_id: o.osd_id,
    node_id: o.node_id,
    host: o.host,
    device: o.device,
    device_class: o.device_class,
    status: o.status,
    in: o.in,
    // capacity_gb is rounded to whole GB: three decimals keep a full-weight OSD at 1.
    weight: full > 0 ? Math.min(1, Math.round((o.crush_weight / full) * 1000) / 1000) : 0,
    crush_weight: o.crush_weight,
    reweight: o.reweight,
    capacity_gb: o.capacity_gb,
    used_gb: o.used_gb,
    pgs: o.pgs,
    current_operation_id: currentOperationId,
    updated_at: o.updated_at.toISOString(),
  };
}

export function clusterNotFound(id: string): ApiError {
  return new ApiError('cluster_not_found', `No cluster with ID ${id} exists in this account.`);
}

export function osdNotFound(clusterId: string, osdId: number | string): ApiError {
  return new ApiError('osd_not_found', `Cluster ${clusterId} has no OSD ${osdId}.`);
}

export async function getClusterOr404(deps: Pick<ApiDeps, 'db'>, auth: AuthState, id: string): Promise<Cluster> {
  const c = await getScopedCluster(deps.db, auth, id);
  if (!c) throw clusterNotFound(id);
  return c;
}

/** OSDs as last recorded from Ceph, by id (Ceph's order); never touches the cluster. */
export async function listOsds(
  deps: Pick<ApiDeps, 'db'>,
  auth: AuthState,
  clusterId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: OsdView[]; total: number }> {
  // One round trip: scope check, page, locks and total together (issue 14, docs/development.md).
  const found = isId('cluster', clusterId)
    ? await osds.listScopedOsdsWithLocks(deps.db, auth, clusterId, page)
    : undefined;
  if (!found) throw clusterNotFound(clusterId);
  return { rows: found.rows.map((r) => osdView(r.osd, r.currentOperationId)), total: found.total };
}

export async function getOsdOr404(deps: Pick<ApiDeps, 'db'>, clusterId: string, osdId: number): Promise<Osd> {
  const o = await osds.getOsd(deps.db, clusterId, osdId);
  if (!o) throw osdNotFound(clusterId, osdId);
  return o;
}

export interface ReweightAccepted {
  operation_id: string;
  cluster_id: string;
  osd_id: number;
  weight: number;
  status: 'pending';
}

/**
 * Starts a reweight (weight > 0) or a drain (0). Locks the OSD and one of the cluster's reweight
 * slots: a second operation on the OSD, more than NF_DRAIN_SLOTS at once, or any
 * cluster-wide operation (which locks the cluster itself) is a 409 naming the running operation.
 */
export async function reweightOsd(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  osdId: number,
  weight: number,
): Promise<ReweightAccepted> {
  await getClusterOr404(deps, auth, clusterId);
  const osd = await getOsdOr404(deps, clusterId, osdId);
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'osd.reweight',
    requestId,
    primaryResourceId: osdLockId(clusterId, osdId),
    clusterId,
    nodeId: osd.node_id,
    osdId,
    lockResourceIds: [osdLockId(clusterId, osdId)],
    slot: { prefix: reweightSlotPrefix(clusterId), count: deps.config.drainSlotsPerCluster },
    params: { osd_id: osdId, weight },
    input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId, osdId, weight }),
    summary: (n) => {
      const where = `${osd.node_id ? ` on ${n.hostname(osd.node_id)}` : ''} of cluster ${n.cluster?.name ?? clusterId}`;
      return weight === 0 ? `Drain osd.${osdId}${where}` : `Reweight osd.${osdId}${where} to ${weight}`;
    },
    precheck: async (trx) => {
      // Under the cluster row lock: a cluster being deleted (or gone) takes no new drains.
      const c = await getClusterById(trx, clusterId);
      if (!c) throw clusterNotFound(clusterId);
      if (c.status === 'DELETING' || c.status === 'CREATING') {
        throw new ApiError('invalid_state', `Cluster ${clusterId} is ${c.status}; OSDs cannot be reweighted now.`, {
          status: c.status,
        });
      }
    },
  });
  return { operation_id: op.id, cluster_id: clusterId, osd_id: osdId, weight, status: 'pending' };
}

export interface ReplaceAccepted {
  operation_id: string;
  cluster_id: string;
  osd_id: number;
  device: string | null;
  status: 'pending';
}

/** `same_slot` → null; `/dev/sdc` → `sdc`. */
export function replacementDeviceOf(device: string): string | null {
  return device === 'same_slot' ? null : device.replace(/^\/dev\//, '');
}

/**
 * Starts a disk replacement of one OSD (keeps its id). Locks like a drain (the OSD and a reweight
 * slot) plus the OSD's node. What the dry run refuses for the OSD and the device (a failed OSD not
 * safe to destroy, a device not available) is answered synchronously as a 409, asked as the dry run
 * asks; the workflow's preflight asks again.
 */
export async function replaceOsd(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  osdId: number,
  device: string | null,
): Promise<ReplaceAccepted> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  const osd = await getOsdOr404(deps, clusterId, osdId);
  if (cluster.status === 'DELETING' || cluster.status === 'CREATING') {
    throw new ApiError('invalid_state', `Cluster ${clusterId} is ${cluster.status}; OSDs cannot be replaced now.`, {
      status: cluster.status,
    });
  }
  const locks = [osdLockId(clusterId, osdId), ...(osd.node_id ? [osd.node_id] : [])];
  if ((await lockHolders(deps.db, [...locks, clusterId])).length === 0) {
    const refusal = await synchronousRefusal(
      deps,
      {
        type: 'osd.replace',
        accountId: auth.accountId,
        resourceId: clusterId,
        requestId,
        params: { osdId, device },
        summary: `replace osd.${osdId} of cluster ${cluster.name}: is it safe to destroy, is the device free?`,
      },
      [REPLACE_FAILURE.notSafeToDestroy, REPLACE_FAILURE.deviceNotAvailable],
    );
    if (refusal)
      throw new ApiError(
        refusal.code === REPLACE_FAILURE.notSafeToDestroy ? 'not_safe_to_destroy' : 'device_not_available',
        refusal.message,
        { cluster_id: clusterId, osd_id: osdId },
      );
  }
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'osd.replace',
    requestId,
    primaryResourceId: osdLockId(clusterId, osdId),
    clusterId,
    nodeId: osd.node_id,
    osdId,
    lockResourceIds: locks,
    slot: { prefix: reweightSlotPrefix(clusterId), count: deps.config.drainSlotsPerCluster },
    params: { osd_id: osdId, device },
    input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId, osdId, device }),
    summary: (n) =>
      `Replace the disk of osd.${osdId}${osd.node_id ? ` on ${n.hostname(osd.node_id)}` : ''} of cluster ${n.cluster?.name ?? clusterId}` +
      (device ? ` with /dev/${device}` : ' (same slot)'),
    precheck: async (trx) => {
      const c = await getClusterById(trx, clusterId);
      if (!c) throw clusterNotFound(clusterId);
      if (c.status === 'DELETING' || c.status === 'CREATING') {
        throw new ApiError('invalid_state', `Cluster ${clusterId} is ${c.status}; OSDs cannot be replaced now.`, {
          status: c.status,
        });
      }
    },
  });
  return { operation_id: op.id, cluster_id: clusterId, osd_id: osdId, device, status: 'pending' };
}
