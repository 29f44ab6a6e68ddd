import { sql, type Kysely } from 'kysely';

// Frozen once landed. Issue 13 #1: long-lived maintenance mode. The node's status says `maintenance`
// (nodes.status has no CHECK constraint, see 2026-12-05-0004-node-online); this table is the record
// of what entering maintenance changed, so that exiting (another operation, possibly days later,
// after any number of restarts) undoes exactly that: whether NodeFoundry set the host's noout (or
// found it set), which OSDs it stopped, whether it powered the machine off. One row per node in
// maintenance; the exit deletes it. No workflow runs while a node is in maintenance.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('node_maintenance')
    .addColumn('node_id', 'text', (c) => c.primaryKey().references('nodes.id').onDelete('cascade'))
    .addColumn('cluster_id', 'text')
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('osd_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('noout_set', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('noout_found', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('powered_off', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('entered_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('node_maintenance').execute();
}
