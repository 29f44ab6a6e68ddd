import { type Kysely, sql } from 'kysely';

// Frozen once landed. Cluster resources as NodeFoundry last observed them: OSDs and pools are
// written by the workflows that create or change them and refreshed from Ceph at the end of every
// cluster operation, so reads never touch hardware.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('osds')
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('osd_id', 'integer', (c) => c.notNull())
    .addColumn('node_id', 'text', (c) => c.references('nodes.id').onDelete('set null'))
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('device', 'text', (c) => c.notNull())
    .addColumn('device_class', 'text')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('up')
        .check(sql`status in ('up', 'down')`),
    )
    .addColumn('in', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('crush_weight', 'double precision', (c) => c.notNull())
    .addColumn('reweight', 'double precision', (c) => c.notNull().defaultTo(1))
    .addColumn('capacity_gb', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('used_gb', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pgs', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('osds_pk', ['cluster_id', 'osd_id'])
    .execute();
  await db.schema.createIndex('osds_node_idx').on('osds').column('node_id').execute();

  await db.schema
    .createTable('pools')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('replicated', 'erasure')`))
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('min_size', 'integer', (c) => c.notNull())
    .addColumn('erasure_profile', 'text')
    .addColumn('k', 'integer')
    .addColumn('m', 'integer')
    .addColumn('pg_num', 'integer', (c) => c.notNull().defaultTo(32))
    .addColumn('pg_autoscale', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('application', 'text')
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('creating', 'active', 'deleting', 'error')`))
    .addColumn('status_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('pools_name_unique', ['cluster_id', 'name'])
    .execute();

  await db.schema.alterTable('clusters').addColumn('target_ceph_version', 'text').execute();
  await db.schema
    .alterTable('clusters')
    .addColumn('osd_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('clusters').addColumn('observed_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clusters').dropColumn('observed_at').execute();
  await db.schema.alterTable('clusters').dropColumn('osd_count').execute();
  await db.schema.alterTable('clusters').dropColumn('target_ceph_version').execute();
  await db.schema.dropTable('pools').ifExists().execute();
  await db.schema.dropTable('osds').ifExists().execute();
}
