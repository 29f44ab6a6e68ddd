/**
 * How full a simulated cluster is (issue 11: `ceph osd df` kb/kb_used and the pgmap's bytes).
 *
 * The model: the sandbox stores only what clients wrote, per pool (`pool_data`, logical bytes,
 * written by the test/demo helper writeSandboxPoolData; nothing else writes). Each PG of a pool
 * holds an equal share of the pool's data; every OSD in the PG's acting set (where its data is,
 * following backfill) stores that share, or share/k for an erasure-coded pool's shard. An OSD's
 * size is its device's (the full CRUSH weight, TiB × 2^40). As real Ceph does, an OSD that is out
 * reports 0 bytes and size 0, and the cluster's totals sum the OSDs that are in. No BlueStore
 * overhead is simulated: a cluster nothing was written to uses 0 bytes.
 */
import type { Db } from '../../db/database';
import { json } from '../../db/database';
import { CRUSH_ITEM_NONE, poolsOf, type ReweightState } from './sandbox-ceph-reweight';
import type { ClusterView, SandboxCephState } from './sandbox-ceph-state';
import { SandboxInputError } from './sandbox-machines';

/** The part of the stored state this module owns. */
export interface UsageState {
  /** Logical bytes clients wrote, by pool id (as a string). */
  pool_data?: Record<string, number>;
}

export interface SandboxUsage {
  byOsd: Map<number, { used_bytes: number; size_bytes: number }>;
  bytes_total: number;
  bytes_used: number;
  bytes_avail: number;
}

/** Bytes per OSD and the cluster's totals, derived from the view (placement, in/out) and the pools' data. */
export function usageOf(v: ClusterView): SandboxUsage {
  const state = v.state;
  const data = (state as UsageState).pool_data ?? {};
  const used = new Map<number, number>(state.osds.map((o) => [o.id, 0]));
  let pg = 0;
  for (const pool of v.placement.pools) {
    const perPg = (data[String(pool.id)] ?? 0) / pool.pg_num;
    const stored = state.pools?.find((p) => p.id === pool.id);
    const profile = stored?.erasure_profile
      ? state.erasure_profiles?.find((e) => e.name === stored.erasure_profile)
      : undefined;
    const perCopy = profile ? perPg / profile.k : perPg;
    for (let i = 0; i < pool.pg_num; i++, pg++) {
      if (perCopy === 0) continue;
      for (const o of v.placement.acting[pg] ?? []) {
        if (o !== CRUSH_ITEM_NONE) used.set(o, (used.get(o) ?? 0) + perCopy);
      }
    }
  }
  const deviceWeights = (state as ReweightState).device_weights ?? {};
  const byOsd = new Map<number, { used_bytes: number; size_bytes: number }>();
  let total = 0;
  let usedTotal = 0;
  for (const o of v.osds) {
    if (!o.in) {
      byOsd.set(o.osd.id, { used_bytes: 0, size_bytes: 0 });
      continue;
    }
    const size = Math.round((deviceWeights[String(o.osd.id)] ?? o.osd.crush_weight) * 2 ** 40);
    const u = Math.min(size, Math.round(used.get(o.osd.id) ?? 0));
    byOsd.set(o.osd.id, { used_bytes: u, size_bytes: size });
    total += size;
    usedTotal += u;
  }
  return { byOsd, bytes_total: total, bytes_used: usedTotal, bytes_avail: total - usedTotal };
}

/**
 * Test/demo helper: clients write `bytes` (logical, before replication; negative deletes) to a pool
 * of the simulated cluster, by name, or to its first pool (the cluster's own when it has no named
 * ones). Throws when the cluster or the pool is unknown. A pool's data never goes below 0.
 */
export async function writeSandboxPoolData(db: Db, clusterId: string, bytes: number, poolName?: string): Promise<void> {
  if (!Number.isFinite(bytes)) throw new SandboxInputError(`bytes must be a number, got ${bytes}`);
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('sandbox_ceph')
      .select('state')
      .where('cluster_id', '=', clusterId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw new SandboxInputError(`no sandbox Ceph cluster ${clusterId}`);
    const state = row.state as SandboxCephState & UsageState;
    let poolId: number | undefined;
    if (poolName !== undefined) poolId = state.pools?.find((p) => p.name === poolName)?.id;
    else poolId = poolsOf(state)[0]?.id;
    if (poolId === undefined) throw new SandboxInputError(`no pool ${poolName ?? ''} in ${clusterId}`);
    const data = (state.pool_data ??= {});
    data[String(poolId)] = Math.max(0, (data[String(poolId)] ?? 0) + bytes);
    await trx
      .updateTable('sandbox_ceph')
      .set({ state: json(state), updated_at: new Date() })
      .where('cluster_id', '=', clusterId)
      .execute();
  });
}
