import type { Transaction } from 'kysely';
import type { Cluster, ClusterStatus, Database } from '../../db/database';
import { getScopedCluster } from '../../db/repositories/clusters.repository';
import { clusterMemberIds, heldMembers, maintenanceMembers } from '../../db/repositories/nodes.repository';
import type { OperationPlan } from '../../workflows/contracts';
import type { ApiDeps, AuthState } from '../context';
import { ApiError } from '../errors';
import type { UpgradeClusterBody } from '../schemas/upgrades.schemas';
import { startOperation } from './operations.service';
import { planOperation } from './plan.service';
import { withHosts } from '../../lib/workflow-summary';

export interface UpgradeAccepted {
  operation_id: string;
  cluster_id: string;
  status: 'pending';
}

/** Clusters being created, deleted or broken are not upgraded (the workflow's preflight checks the live state). */
const NOT_UPGRADABLE: readonly ClusterStatus[] = ['CREATING', 'DELETING', 'ERROR'];

export async function getClusterOr404(
  deps: Pick<ApiDeps, 'db'>,
  auth: AuthState,
  id: string,
  trx?: Transaction<Database>,
): Promise<Cluster> {
  const cluster = await getScopedCluster(trx ?? deps.db, auth, id, trx !== undefined);
  if (!cluster) throw new ApiError('cluster_not_found', `No cluster with ID ${id} exists in this account.`);
  return cluster;
}

function planParams(body: UpgradeClusterBody): Record<string, unknown> {
  return {
    targetVersion: body.ceph_version ?? null,
    mode: body.mode,
    maxConcurrent: body.max_concurrent,
    osPackages: body.os_packages,
    skipMaintenance: body.skip_maintenance,
  };
}

/** `?dry_run=true`: the plan (batches, gates, refusals) from the live state; nothing changes. */
export async function planUpgrade(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
  body: UpgradeClusterBody,
): Promise<OperationPlan> {
  const cluster = await getClusterOr404(deps, auth, id);
  return planOperation(deps, {
    type: 'cluster.upgrade',
    accountId: auth.accountId,
    resourceId: id,
    requestId,
    params: planParams(body),
    clusterId: id,
    nodeIds: await clusterMemberIds(deps.db, id),
    summary: (n) =>
      withHosts(
        `${body.mode === 'restart' ? 'rolling restart' : `rolling upgrade to ${body.ceph_version ?? 'the next release'}`} of ${cluster.name}`,
        n.hosts.map((h) => h.hostname),
      ),
  });
}

/**
 * Starts a rolling upgrade (or restart). Locks the cluster and every member node, so no reboot or
 * other operation touches a node while its cluster upgrades (409 resource_busy naming the upgrade).
 */
export async function upgradeCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
  body: UpgradeClusterBody,
): Promise<UpgradeAccepted> {
  const cluster = await getClusterOr404(deps, auth, id);
  const memberIds = await clusterMemberIds(deps.db, id);
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'cluster.upgrade',
    requestId,
    primaryResourceId: id,
    clusterId: id,
    lockResourceIds: [id, ...memberIds],
    params: {
      ceph_version: body.ceph_version ?? null,
      os_packages: body.os_packages,
      max_concurrent: body.max_concurrent,
      mode: body.mode,
      ...(body.skip_maintenance ? { skip_maintenance: true } : {}),
    },
    input: (operationId) => ({
      operationId,
      accountId: auth.accountId,
      clusterId: id,
      targetVersion: body.ceph_version ?? '',
      osPackages: body.os_packages,
      maxConcurrent: body.max_concurrent,
      mode: body.mode,
      clusterName: cluster.name,
      ...(body.skip_maintenance ? { skipMaintenance: true } : {}),
    }),
    summary: (n) =>
      withHosts(
        `${body.mode === 'restart' ? 'Rolling restart' : `Rolling upgrade to ${body.ceph_version ?? 'the next release'}`} of ${cluster.name} (≤ ${body.max_concurrent} at once)`,
        n.hosts.map((h) => h.hostname),
      ),
    precheck: async (trx) => {
      const c = await getClusterOr404(deps, auth, id, trx);
      if (NOT_UPGRADABLE.includes(c.status)) {
        throw new ApiError('invalid_state', `Cluster ${id} is ${c.status}; it cannot be upgraded now.`, {
          status: c.status,
        });
      }
      const now = await clusterMemberIds(trx, id);
      if (now.join() !== memberIds.join()) {
        throw new ApiError(
          'conflict',
          `The members of cluster ${id} changed while the upgrade was being requested; retry.`,
        );
      }
      // A held member would stop the upgrade at its host (the workflow's preflight refuses it too):
      // the API knows it now, so it is a 409 before anything starts (issue 12 #4).
      const held = await heldMembers(trx, id);
      if (held.length > 0) {
        throw new ApiError(
          'node_held',
          `Node ${held.map((n) => `${n.hostname} (${n.id})`).join(', ')} of cluster ${id} ${held.length === 1 ? 'is' : 'are'} on hold; release ${held.length === 1 ? 'it' : 'them'} with PATCH {"state":"ready"} first.`,
          { node_ids: held.map((n) => n.id) },
        );
      }
      // A member in maintenance (issue 13 #1) has its OSDs stopped and maybe no power: upgrading the
      // cluster around it leaves it on the old release: refused before anything starts, unless the
      // caller asked for exactly that (skip_maintenance; the workflow's planner skips it then).
      const inMaintenance = await maintenanceMembers(trx, id);
      if (inMaintenance.length > 0 && !body.skip_maintenance) {
        throw new ApiError(
          'node_in_maintenance',
          `Node ${inMaintenance.map((n) => `${n.hostname} (${n.id})`).join(', ')} of cluster ${id} ${inMaintenance.length === 1 ? 'is' : 'are'} in maintenance; end it (DELETE /v1/nodes/{id}/maintenance) before upgrading, or ask for skip_maintenance to upgrade around ${inMaintenance.length === 1 ? 'it' : 'them'}.`,
          { node_ids: inMaintenance.map((n) => n.id) },
        );
      }
    },
  });
  return { operation_id: op.id, cluster_id: id, status: 'pending' };
}
