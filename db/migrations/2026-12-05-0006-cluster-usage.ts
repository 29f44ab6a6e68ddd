import type { Kysely } from 'kysely';

// Frozen once landed. Issue 11: how full a cluster is. `cluster_health.raw_bytes/used_bytes/avail_bytes`:
// the raw capacity the cluster monitor last read from Ceph's PG map (`ceph status` pgmap bytes_total,
// bytes_used, bytes_avail: every copy counted); `clusters.used_capacity_tib`: the same used figure in
// TiB beside raw_capacity_tib, for the cluster list (written by the monitor and by the refresh at the
// end of every operation). Null until first read (rows older than the migration, a Ceph that does not
// report them). `osds.used_gb` already exists (always 0 until now); the monitor and refreshes write it.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('cluster_health')
    .addColumn('raw_bytes', 'bigint')
    .addColumn('used_bytes', 'bigint')
    .addColumn('avail_bytes', 'bigint')
    .execute();
  await db.schema.alterTable('clusters').addColumn('used_capacity_tib', 'double precision').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clusters').dropColumn('used_capacity_tib').execute();
  await db.schema
    .alterTable('cluster_health')
    .dropColumn('raw_bytes')
    .dropColumn('used_bytes')
    .dropColumn('avail_bytes')
    .execute();
}
