import { type Kysely, sql } from 'kysely';

// Frozen once landed. Issue 11: what the cluster monitor (workflows/monitor-cluster.workflow.ts) last
// read from Ceph between operations. `cluster_health_checks`: the checks in effect now, Ceph's and
// NodeFoundry's own drift checks (source 'nodefoundry', codes NF_*), each with the time it was first
// seen (`since`); a cleared check's row is deleted. `cluster_health`: one row per cluster with the
// rest of the round's reading (flags, per-host noout, the autoscale freeze, mons, mgr, PGs) and why
// the admin node did not answer when it did not. Both go with their cluster.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cluster_health_checks')
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('ceph', 'nodefoundry')`))
    .addColumn('severity', 'text', (c) => c.notNull().check(sql`severity in ('HEALTH_WARN', 'HEALTH_ERR')`))
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('since', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('observed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('cluster_health_checks_pkey', ['cluster_id', 'code'])
    .execute();
  await db.schema
    .createTable('cluster_health')
    .addColumn('cluster_id', 'text', (c) => c.primaryKey().references('clusters.id').onDelete('cascade'))
    .addColumn('flags', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('noout_hosts', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('autoscale_frozen', 'boolean')
    .addColumn('mons_in_quorum', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('mons_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('mgr_available', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('pgs_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pgs_active_clean', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unreachable_reason', 'text')
    .addColumn('observed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('cluster_health').execute();
  await db.schema.dropTable('cluster_health_checks').execute();
}
