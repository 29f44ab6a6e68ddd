import { type Kysely, sql } from 'kysely';

// Frozen once landed. Issue 11: node statuses in the seed's vocabulary (SPEC §2). A member serving in
// its cluster is `online`, no longer `active`; `offline` (written by the cluster monitor) is new and
// needs no schema change (nodes.status has no CHECK constraint; the node.status_changed trigger of
// 2026-12-05-0002-events copies whatever value is written). Existing rows are renamed here without
// touching updated_at and without events: the nodes did not change, only the word for their status
// (the trigger is disabled for this one statement, inside the migration's transaction). Events
// already written keep the `active` they were written with.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table nodes disable trigger nodes_status_event`.execute(db);
  await sql`update nodes set status = 'online' where status = 'active'`.execute(db);
  await sql`alter table nodes enable trigger nodes_status_event`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table nodes disable trigger nodes_status_event`.execute(db);
  await sql`update nodes set status = 'active' where status in ('online', 'offline')`.execute(db);
  await sql`alter table nodes enable trigger nodes_status_event`.execute(db);
}
