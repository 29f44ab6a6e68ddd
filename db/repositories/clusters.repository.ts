import { sql, type Insertable, type Transaction } from 'kysely';
import type { Cluster, ClusterStatus, ClustersTable, Database, Executor, Node } from '../database';
import type { CreateClusterFacts } from '../../lib/plans/create-cluster.planner';
import type { Scope } from './operations.repository';

/**
 * A new cluster row and its members claimed (cluster_id), in the caller's transaction — the one
 * that locked and checked the nodes, so no other cluster can pick them in between.
 */
export async function insertClusterClaimingNodes(
  trx: Transaction<Database>,
  row: Insertable<ClustersTable>,
  nodeIds: string[],
): Promise<void> {
  await trx.insertInto('clusters').values(row).execute();
  await trx.updateTable('nodes').set({ cluster_id: row.id }).where('id', 'in', nodeIds).execute();
}

export async function getClusterById(db: Executor, id: string): Promise<Cluster | undefined> {
  return db.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getScopedCluster(
  db: Executor,
  scope: Scope,
  id: string,
  forUpdate = false,
): Promise<Cluster | undefined> {
  let q = db
    .selectFrom('clusters')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function findClusterByName(db: Executor, scope: Scope, name: string): Promise<Cluster | undefined> {
  return db
    .selectFrom('clusters')
    .selectAll()
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment)
    .where('name', '=', name)
    .executeTakeFirst();
}

export async function listClusters(
  db: Executor,
  scope: Scope,
  filter: { status?: ClusterStatus },
  page: { limit: number; offset: number },
): Promise<{ rows: Cluster[]; total: number }> {
  let q = db
    .selectFrom('clusters')
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  if (filter.status) q = q.where('status', '=', filter.status);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function clusterNodes(db: Executor, clusterId: string): Promise<Node[]> {
  return db
    .selectFrom('nodes')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Member counts per cluster, for list views. */
export async function nodeCounts(db: Executor, clusterIds: string[]): Promise<Map<string, number>> {
  if (clusterIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('nodes')
    .select(['cluster_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('cluster_id', 'in', clusterIds)
    .groupBy('cluster_id')
    .execute();
  return new Map(rows.map((r) => [r.cluster_id!, Number(r.n)]));
}

export async function updateCluster(
  db: Executor,
  id: string,
  change: { status?: ClusterStatus; status_reason?: string | null; fsid?: string | null },
): Promise<void> {
  await db
    .updateTable('clusters')
    .set({ ...change, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/**
 * Distinct failure domains of a cluster's members: hosts, or the racks/zones they are labelled
 * with (unlabelled nodes count for nothing above host).
 */
export async function failureDomainCount(db: Executor, clusterId: string, failureDomain: string): Promise<number> {
  const members = await db
    .selectFrom('nodes')
    .select(['hostname', 'rack', 'zone'])
    .where('cluster_id', '=', clusterId)
    .execute();
  const key = (n: { hostname: string; rack: string | null; zone: string | null }) =>
    failureDomain === 'rack' ? n.rack : failureDomain === 'zone' ? n.zone : n.hostname;
  return new Set(members.map(key).filter((k): k is string => k !== null)).size;
}

/**
 * The nodes a cluster would be made of, as the creation planner reads them. With `forUpdate` the
 * node rows are locked (the API's precheck), so a concurrent operation sees the claim or waits.
 */
export async function createClusterFacts(
  db: Executor,
  scope: Scope,
  input: { clusterId: string | null; name: string; nodeIds: string[] },
  forUpdate = false,
): Promise<CreateClusterFacts> {
  let q = db
    .selectFrom('nodes')
    .selectAll()
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  q = input.nodeIds.length ? q.where('id', 'in', input.nodeIds) : q.where(sql<boolean>`false`);
  if (forUpdate) q = q.orderBy('id').forUpdate();
  const rows = await q.execute();
  const byId = new Map(rows.map((n) => [n.id, n]));
  const named = await findClusterByName(db, scope, input.name);
  return {
    clusterId: input.clusterId,
    nameTakenBy: named && named.id !== input.clusterId ? named.id : null,
    missingNodeIds: input.nodeIds.filter((id) => !byId.has(id)),
    nodes: input.nodeIds
      .map((id) => byId.get(id))
      .filter((n): n is Node => n !== undefined)
      .map((n) => ({
        nodeId: n.id,
        hostname: n.hostname,
        ipAddress: n.ip_address,
        status: n.status,
        held: n.held,
        clusterId: n.cluster_id,
        rack: n.rack,
        zone: n.zone,
        drives: n.drives.map((d) => ({ device: d.device, size_gb: d.size_gb, type: d.type, smart_ok: d.smart_ok })),
      })),
  };
}

/** A cluster's status, and why (null clears the reason). */
export async function setClusterStatus(
  db: Executor,
  id: string,
  status: ClusterStatus,
  reason: string | null,
): Promise<void> {
  await updateCluster(db, id, { status, status_reason: reason });
}

/** Another cluster of the scope that already manages this fsid (an import must not adopt it twice). */
export async function findClusterByFsid(
  db: Executor,
  scope: Scope,
  fsid: string,
  exceptId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('clusters')
    .select('id')
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment)
    .where('fsid', '=', fsid)
    .where('id', '!=', exceptId)
    .executeTakeFirst();
  return row?.id;
}

/** Locks (FOR UPDATE) the rows of these clusters, in id order (no deadlocks); ids of no cluster lock nothing. */
export async function lockClustersForUpdate(trx: Transaction<Database>, ids: string[]): Promise<void> {
  await trx.selectFrom('clusters').select('id').where('id', 'in', ids).orderBy('id').forUpdate().execute();
}

/** What Ceph last said about the cluster: health as its status, OSD count, raw and used capacity. */
export async function recordObservation(
  db: Executor,
  id: string,
  seen: {
    health: ClusterStatus;
    osdCount: number;
    rawCapacityTib: number;
    usedCapacityTib?: number | null;
    /** The point version most daemons run (`ceph versions`); undefined = not read, left as it is. */
    pointVersion?: string;
  },
): Promise<void> {
  await db
    .updateTable('clusters')
    .set({
      status: seen.health,
      osd_count: seen.osdCount,
      raw_capacity_tib: seen.rawCapacityTib,
      ...(seen.usedCapacityTib !== undefined ? { used_capacity_tib: seen.usedCapacityTib } : {}),
      ...(seen.pointVersion !== undefined ? { ceph_point_version: seen.pointVersion } : {}),
      observed_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .execute();
}

/** An imported cluster's identity and layout as Ceph has them (the status follows from observation). */
export async function recordAdoptedCluster(
  db: Executor,
  id: string,
  adopted: {
    fsid: string;
    /** The release name (reef); the point version beside it. */
    cephVersion: string;
    cephPointVersion: string | null;
    failureDomain: string;
    replicationFactor: number;
  },
): Promise<void> {
  await db
    .updateTable('clusters')
    .set({
      fsid: adopted.fsid,
      ceph_version: adopted.cephVersion,
      ceph_point_version: adopted.cephPointVersion,
      failure_domain: adopted.failureDomain,
      replication_factor: adopted.replicationFactor,
      status_reason: null,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .execute();
}

/** The release the cluster now runs; no upgrade target any more. */
export async function recordClusterVersion(db: Executor, id: string, cephVersion: string): Promise<void> {
  await db
    .updateTable('clusters')
    .set({ ceph_version: cephVersion, target_ceph_version: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/** The cluster's pools, OSDs and row (its members are released first, by the caller: nodes.releaseClusterMembers). */
export async function deleteClusterRecords(trx: Transaction<Database>, id: string): Promise<void> {
  await trx.deleteFrom('pools').where('cluster_id', '=', id).execute();
  await trx.deleteFrom('osds').where('cluster_id', '=', id).execute();
  await trx.deleteFrom('clusters').where('id', '=', id).execute();
}
