import { sql } from 'kysely';
import type { Executor } from '../database';
import type { FailureDomain } from '../../lib/plans/create-cluster.planner';
import type { ExpandFacts } from '../../lib/plans/expand-cluster.planner';
import { clusterNodes, createClusterFacts, getClusterById } from './clusters.repository';

/**
 * What adding `nodeIds` to a cluster is planned from, all from the database: the cluster, its
 * members (other than the requested nodes), its OSDs as last recorded (capacity and use), and the
 * requested nodes of the cluster's account and environment. The API's precheck (under the cluster
 * row lock) and the workflow's preflight read the same; undefined when the cluster does not exist.
 */
export async function expandFacts(
  db: Executor,
  clusterId: string,
  nodeIds: string[],
): Promise<ExpandFacts | undefined> {
  const c = await getClusterById(db, clusterId);
  if (!c) return undefined;
  const requested = await createClusterFacts(
    db,
    { accountId: c.account_id, environment: c.environment },
    { clusterId: null, name: '', nodeIds },
  );
  const members = await clusterNodes(db, clusterId);
  const osds = await db
    .selectFrom('osds')
    .select(['osd_id', 'host', 'crush_weight', 'capacity_gb', 'used_gb'])
    .where('cluster_id', '=', clusterId)
    .orderBy('osd_id')
    .execute();
  return {
    clusterId: c.id,
    clusterName: c.name,
    clusterStatus: c.status,
    replicationFactor: c.replication_factor,
    failureDomain: c.failure_domain as FailureDomain,
    nodes: requested.nodes,
    missingNodeIds: requested.missingNodeIds,
    members: members
      .filter((m) => !nodeIds.includes(m.id))
      .map((m) => ({ nodeId: m.id, hostname: m.hostname, status: m.status, rack: m.rack, zone: m.zone })),
    osds: osds.map((o) => ({
      id: o.osd_id,
      host: o.host,
      crush_weight: o.crush_weight,
      capacity_gb: o.capacity_gb,
      used_gb: o.used_gb,
    })),
  };
}

/**
 * The expansion's nodes only (other members keep their status): `online` members, or released to
 * `ready` (cluster_id cleared) when nothing of Ceph reached them. Only rows still in this cluster.
 */
export async function settleExpansionNodes(
  db: Executor,
  input: { clusterId: string; nodeIds: string[]; release: boolean; reason: string | null },
): Promise<void> {
  if (input.nodeIds.length === 0) return;
  await db
    .updateTable('nodes')
    .set(
      input.release
        ? { cluster_id: null, status: 'ready', status_reason: input.reason, updated_at: sql`now()` }
        : { status: 'online', status_reason: input.reason, updated_at: sql`now()` },
    )
    .where('id', 'in', input.nodeIds)
    .where('cluster_id', '=', input.clusterId)
    .execute();
}
