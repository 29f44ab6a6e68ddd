import { type Kysely, sql } from 'kysely';

// Frozen once landed. What a test or an operator needs to see on a simulated machine: which
// operation sent each chassis command (issue 8 #17), and which devices were wiped (issue 8 #10:
// a cluster delete must wipe only what Ceph attributes to an OSD on that host).

export async function up(db: Kysely<any>): Promise<void> {
  // The operation whose workflow (or upgrade host child) sent the command; null outside one.
  await db.schema.alterTable('sandbox_power_events').addColumn('operation_id', 'text').execute();

  await db.schema
    .createTable('sandbox_device_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull().references('sandbox_machines.id').onDelete('cascade'))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('device', 'text', (c) => c.notNull())
    .addColumn('cluster_id', 'text')
    .addColumn('operation_id', 'text')
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('sandbox_device_events_machine_idx')
    .on('sandbox_device_events')
    .columns(['machine_id', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sandbox_device_events').ifExists().execute();
  await db.schema.alterTable('sandbox_power_events').dropColumn('operation_id').execute();
}
