import { CompiledQuery, sql, type Insertable } from 'kysely';
import { preparedStatement, type Executor, type Osd, type OsdsTable } from '../database';
import type { Scope } from './operations.repository';

/** An OSD as Ceph reported it, ready to record (used_gb: whole GB, 10^9 bytes, like capacity_gb). */
export type ObservedOsd = Omit<Insertable<OsdsTable>, 'updated_at' | 'expected_crush_weight'>;

/**
 * Records one OSD as Ceph reports it. The device follows Ceph when Ceph reports it; an OSD id seen
 * on another host without a device loses the old one (it is not on that host), so a delete never
 * takes the old host's device for the new host's. The capacity is set once (see the comment below).
 */
export async function upsertObservedOsd(db: Executor, osd: ObservedOsd): Promise<void> {
  await db
    .insertInto('osds')
    // A newly recorded OSD (create, import) is at the weight NodeFoundry found or gave it.
    .values({ ...osd, expected_crush_weight: osd.crush_weight })
    .onConflict((oc) =>
      oc.columns(['cluster_id', 'osd_id']).doUpdateSet((eb) => ({
        node_id: eb.ref('excluded.node_id'),
        host: eb.ref('excluded.host'),
        device: sql`case when excluded.device <> '' then excluded.device when excluded.host <> osds.host then '' else osds.device end`,
        device_class: eb.ref('excluded.device_class'),
        status: eb.ref('excluded.status'),
        in: eb.ref('excluded.in'),
        crush_weight: eb.ref('excluded.crush_weight'),
        reweight: eb.ref('excluded.reweight'),
        // The device's size, from its full CRUSH weight: an OSD recorded at creation
        // (recordCreatedOsd) has none yet, so the first refresh fills it in; later
        // refreshes keep it (a drained OSD's CRUSH weight is 0, its device is not smaller).
        capacity_gb: sql`case when osds.capacity_gb = 0 then excluded.capacity_gb else osds.capacity_gb end`,
        pgs: eb.ref('excluded.pgs'),
        used_gb: eb.ref('excluded.used_gb'),
        // What NodeFoundry last left the OSD at (osd-weights.repository.ts) is not what a refresh
        // sees: kept once known; adopted from Ceph while unknown (rows older than the column) and
        // for an OSD id now on another host (a new OSD that reuses a purged one's id).
        expected_crush_weight: sql`case when excluded.host <> osds.host then excluded.crush_weight else coalesce(osds.expected_crush_weight, excluded.crush_weight) end`,
        updated_at: sql`now()`,
      })),
    )
    .execute();
}

/** Removes the cluster's OSD rows whose ids Ceph no longer reports (all of them when `keep` is empty). */
export async function deleteOsdsExcept(db: Executor, clusterId: string, keep: number[]): Promise<void> {
  let gone = db.deleteFrom('osds').where('cluster_id', '=', clusterId);
  if (keep.length > 0) gone = gone.where('osd_id', 'not in', keep);
  await gone.execute();
}

/**
 * An OSD just created on a device, recorded at once (with its device, CRUSH weight 0 until the
 * next refresh) so that a deletion after a failed creation knows which devices to wipe.
 */
export async function recordCreatedOsd(
  db: Executor,
  osd: { clusterId: string; osdId: number; nodeId: string; host: string; device: string },
): Promise<void> {
  await db
    .insertInto('osds')
    .values({
      cluster_id: osd.clusterId,
      osd_id: osd.osdId,
      node_id: osd.nodeId,
      host: osd.host,
      device: osd.device,
      crush_weight: 0,
    })
    .onConflict((oc) =>
      oc.columns(['cluster_id', 'osd_id']).doUpdateSet({ device: osd.device, node_id: osd.nodeId, host: osd.host }),
    )
    .execute();
}

/** Host and device of each recorded OSD of the cluster, by OSD id. */
export async function osdDevices(db: Executor, clusterId: string): Promise<{ host: string; device: string }[]> {
  return db
    .selectFrom('osds')
    .select(['host', 'device'])
    .where('cluster_id', '=', clusterId)
    .orderBy('osd_id')
    .execute();
}

/** Which node each OSD of the cluster is on, and whether it is up and in. */
export async function osdStates(db: Executor, clusterId: string): Promise<Pick<Osd, 'node_id' | 'status' | 'in'>[]> {
  return db.selectFrom('osds').select(['node_id', 'status', 'in']).where('cluster_id', '=', clusterId).execute();
}

/** A page of the cluster's OSDs by id (Ceph's order), and how many it has. */
export async function listOsds(
  db: Executor,
  clusterId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: Osd[]; total: number }> {
  const q = db.selectFrom('osds').where('cluster_id', '=', clusterId);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('osd_id').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/**
 * One page of a cluster's OSDs in the scope's account and environment, with each OSD's lock holder
 * (`<cluster>/osd.<n>`, api/services/osds.service.ts osdLockId) and the cluster's total, in ONE
 * round trip (issue 14: GET /v1/clusters/{id}/osds made four — cluster, page ‖ count, locks).
 * `undefined` when the cluster is not in the scope; a page past the end answers the total.
 */
export async function listScopedOsdsWithLocks(
  db: Executor,
  scope: Scope,
  clusterId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: { osd: Osd; currentOperationId: string | null }[]; total: number } | undefined> {
  const { rows } = await db.executeQuery<Osd & { current_operation_id: string | null; total: string }>(
    CompiledQuery.raw(OSDS_PAGE_SQL, [clusterId, scope.accountId, scope.environment, page.limit, page.offset]),
  );
  if (rows.length === 0) return undefined;
  const out: { osd: Osd; currentOperationId: string | null }[] = [];
  for (const r of rows) if (r.osd_id !== null) out.push({ osd: r, currentOperationId: r.current_operation_id });
  return { rows: out, total: Number(rows[0]!.total) };
}

/**
 * listScopedOsdsWithLocks's statement, written once (not built by kysely on every request; issue
 * 14): $1 cluster, $2 account, $3 environment, $4 limit, $5 offset.
 */
const OSDS_PAGE_SQL = preparedStatement(
  `select o.*, (select l.operation_id from operation_locks l where l.resource_id = o.cluster_id || '/osd.' || o.osd_id) as current_operation_id, t.total ` +
    `from clusters c ` +
    `cross join lateral (select count(*) as total from osds where osds.cluster_id = c.id) t ` +
    `left join lateral (select * from osds where osds.cluster_id = c.id order by osd_id limit $4 offset $5) o on true ` +
    `where c.id = $1 and c.account_id = $2 and c.environment = $3 ` +
    `order by o.osd_id`,
);

export async function getOsd(db: Executor, clusterId: string, osdId: number): Promise<Osd | undefined> {
  return db
    .selectFrom('osds')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .where('osd_id', '=', osdId)
    .executeTakeFirst();
}

/** A replaced OSD's capacity follows its new device (a refresh keeps the first capacity it saw). */
export async function setOsdCapacity(
  db: Executor,
  clusterId: string,
  osdId: number,
  capacityGb: number,
): Promise<void> {
  await db
    .updateTable('osds')
    .set({ capacity_gb: capacityGb })
    .where('cluster_id', '=', clusterId)
    .where('osd_id', '=', osdId)
    .execute();
}
