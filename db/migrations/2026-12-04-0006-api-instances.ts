import { type Kysely, sql } from 'kysely';

// Frozen once landed. API process liveness for Idempotency-Key claims (issue 8 #5): every API process
// registers a random instance id here and refreshes last_seen every few seconds; a claim records the
// instance that made it (claimed_by), so a claim whose process died (row stale or gone) is taken over
// by a retry at once instead of after IDEMPOTENCY_STALE_CLAIM_SECONDS.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.alterTable('idempotency_keys').addColumn('claimed_by', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('idempotency_keys').dropColumn('claimed_by').execute();
  await db.schema.dropTable('api_instances').execute();
}
