import { type Kysely, sql } from 'kysely';

// Frozen once landed. The change ledger: what each operation changed on hardware or in Ceph, written
// by the activity that makes the change before it makes it (a lost reply still leaves the record)
// and closed by the activity that undoes it. The settler (workflows/settle-operations.workflow.ts)
// reads the entries still open when an operation's workflow closed without recording its end.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('operation_changes')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('operation_id', 'text', (c) => c.notNull().references('operations.id').onDelete('cascade'))
    // The workflow that made the change: the operation's own, or one of its children (upgrade hosts).
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('state', 'text', (c) =>
      c
        .notNull()
        .defaultTo('open')
        .check(sql`state in ('open', 'undone', 'kept', 'left')`),
    )
    .addColumn('note', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .execute();
  // One open entry per change: a retried activity finds the first record (and its original value).
  await sql`create unique index operation_changes_open_unique on operation_changes (operation_id, kind, subject) where state = 'open'`.execute(
    db,
  );
  await db.schema
    .createIndex('operation_changes_operation_idx')
    .on('operation_changes')
    .column('operation_id')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('operation_changes').execute();
}
