import type { Node } from '../../db/database';
import { getClusterById } from '../../db/repositories/clusters.repository';
import { lockHolders } from '../../db/repositories/operations.repository';
import * as nodes from '../../db/repositories/nodes.repository';
import { REMOVE_HOST_FAILURE } from '../../lib/plans/remove-host.planner';
import type { OperationPlan } from '../../lib/plans/plan';
import type { ApiDeps, AuthState } from '../context';
import { ApiError, type ErrorCode } from '../errors';
import { getClusterOr404 } from './osds.service';
import { startOperation } from './operations.service';
import { planOperation, synchronousRefusal } from './plan.service';

/** Refusals of the plan answered synchronously (409) before anything starts, and their API codes. */
const SYNC_REFUSALS: Record<string, ErrorCode> = {
  [REMOVE_HOST_FAILURE.insufficientCapacity]: 'insufficient_capacity',
  [REMOVE_HOST_FAILURE.insufficientFailureDomains]: 'insufficient_failure_domains',
  [REMOVE_HOST_FAILURE.nodeIsAdmin]: 'invalid_state',
  [REMOVE_HOST_FAILURE.monQuorum]: 'invalid_state',
};

/** Cluster statuses in which a host may leave: the cluster exists and is not being built or torn down. */
const REMOVABLE_FROM = new Set(['HEALTH_OK', 'HEALTH_WARN', 'HEALTH_ERR', 'UNREACHABLE', 'ERROR']);

export interface RemoveNodeAccepted {
  operation_id: string;
  cluster_id: string;
  node_id: string;
  status: 'pending';
}

function memberNotFound(clusterId: string, nodeId: string): ApiError {
  return new ApiError('node_not_found', `Cluster ${clusterId} has no member node ${nodeId}.`);
}

/** The node, when it is a member of the cluster in this account; a 404 otherwise (other tenants' too). */
async function memberOr404(deps: Pick<ApiDeps, 'db'>, auth: AuthState, clusterId: string, nodeId: string) {
  const node = await nodes.getScopedNode(deps.db, auth, nodeId);
  if (!node || node.cluster_id !== clusterId) throw memberNotFound(clusterId, nodeId);
  return node;
}

/** Dry run: the plan (capacity and failure-domain figures, where mons and mgrs go); nothing changes. */
export async function planRemoveClusterNode(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  nodeId: string,
): Promise<OperationPlan> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  const node = await memberOr404(deps, auth, clusterId, nodeId);
  return planOperation(deps, {
    type: 'cluster.shrink',
    accountId: auth.accountId,
    resourceId: clusterId,
    requestId,
    params: { nodeId },
    clusterId,
    nodeIds: [nodeId],
    summary: () => `remove ${node.hostname} from cluster ${cluster.name}`,
  });
}

/**
 * A member in maintenance has its OSDs stopped under noout (issue 13 #1): draining a host then
 * leans on the copies that are left, and a removed node's own noout and record would outlive its
 * host. 409 node_in_maintenance naming them: end maintenance first (an exit completes even when the
 * host stays down). Asked before the capacity check and again under the locks.
 */
async function refuseIfMaintenance(db: Parameters<typeof nodes.maintenanceMembers>[0], clusterId: string) {
  const inMaintenance = await nodes.maintenanceMembers(db, clusterId);
  if (inMaintenance.length === 0) return;
  const names = inMaintenance.map((m) => `${m.hostname} (${m.id})`).join(', ');
  throw new ApiError(
    'node_in_maintenance',
    `Node ${names} of cluster ${clusterId} ${inMaintenance.length === 1 ? 'is' : 'are'} in maintenance; end it first (DELETE /v1/nodes/{id}/maintenance; an exit completes even when the host stays down), then remove the host.`,
    { node_ids: inMaintenance.map((m) => m.id) },
  );
}

/**
 * What the remaining hosts cannot hold, answered before anything starts (409 with the figures):
 * the dry run's refusal, read as a reboot's ok-to-stop is. Skipped when an operation holds the
 * cluster or the node (that answer is 409 resource_busy) or when the check cannot be made in time
 * (the workflow's preflight refuses the same).
 */
async function refuseIfCannotRemove(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  node: Node,
): Promise<void> {
  if ((await lockHolders(deps.db, [clusterId, node.id])).length > 0) return;
  const refusal = await synchronousRefusal(
    deps,
    {
      type: 'cluster.shrink',
      accountId: auth.accountId,
      resourceId: clusterId,
      requestId,
      params: { nodeId: node.id },
      summary: `removing ${node.hostname}: can the other hosts hold the data?`,
    },
    Object.keys(SYNC_REFUSALS),
  );
  if (refusal) {
    throw new ApiError(SYNC_REFUSALS[refusal.code]!, refusal.message, {
      cluster_id: clusterId,
      node_id: node.id,
      reason: refusal.code,
    });
  }
}

/**
 * Starts removing a member's host from its cluster (workflows/remove-host.workflow.ts). Locks the
 * cluster (no drain, reboot, upgrade or other removal beside it) and the node.
 */
export async function removeClusterNode(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  nodeId: string,
): Promise<RemoveNodeAccepted> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  const node = await memberOr404(deps, auth, clusterId, nodeId);
  if (!REMOVABLE_FROM.has(cluster.status)) {
    throw new ApiError('invalid_state', `Cluster ${clusterId} is ${cluster.status}; no host can leave it now.`, {
      status: cluster.status,
    });
  }
  await refuseIfMaintenance(deps.db, clusterId);
  await refuseIfCannotRemove(deps, auth, requestId, clusterId, node);
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'cluster.shrink',
    requestId,
    primaryResourceId: nodeId,
    clusterId,
    nodeId,
    lockResourceIds: [clusterId, nodeId],
    params: { node_id: nodeId },
    input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId, nodeId }),
    summary: (n) => `Remove ${n.hostname(nodeId)} from cluster ${n.cluster?.name ?? cluster.name}`,
    precheck: async (trx) => {
      const c = await getClusterById(trx, clusterId);
      if (!c) throw new ApiError('cluster_not_found', `No cluster with ID ${clusterId} exists in this account.`);
      if (!REMOVABLE_FROM.has(c.status)) {
        throw new ApiError('invalid_state', `Cluster ${clusterId} is ${c.status}; no host can leave it now.`, {
          status: c.status,
        });
      }
      const n = await nodes.getScopedNode(trx, auth, nodeId, true);
      if (!n || n.cluster_id !== clusterId) throw memberNotFound(clusterId, nodeId);
      if (n.held) {
        throw new ApiError('node_held', `Node ${nodeId} is on hold; release it with PATCH {"state":"ready"} first.`);
      }
      await refuseIfMaintenance(trx, clusterId);
    },
  });
  return { operation_id: op.id, cluster_id: clusterId, node_id: nodeId, status: 'pending' };
}
