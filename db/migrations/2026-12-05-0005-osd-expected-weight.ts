import type { Kysely } from 'kysely';

// Frozen once landed. Issue 11: the CRUSH weight (TiB) NodeFoundry last left each OSD at, so the
// cluster monitor can tell an OSD weight that drifted since (NF_OSD_WEIGHT_DRIFT). Written when a
// create/import first records the OSD, when a reweight or drain completes (its target), when a
// compensation, the settler or the monitor restores a recorded original. Null: not known yet (rows
// from before this migration until the next operation records the cluster's state): no check.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('osds').addColumn('expected_crush_weight', 'double precision').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('osds').dropColumn('expected_crush_weight').execute();
}
