import { type Kysely } from 'kysely';

// Frozen once landed. What makes an operation's start safe to retry and its cancel answer clear:
// - idempotency_keys.claim_id: which request holds an in_progress claim (a takeover gives it a new
//   one, so the request that lost its claim cannot bind an operation to it);
// - idempotency_keys.operation_id: the operation the claim's request created, written in the same
//   transaction as the operation row, so a retry whose first answer was lost finds that operation
//   (and the claim is never taken over) instead of running the request again;
// - operations.cancel_requested_at: when a cancel of the operation was delivered to its workflow.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('idempotency_keys')
    .addColumn('claim_id', 'text')
    .addColumn('operation_id', 'text', (c) => c.references('operations.id').onDelete('set null'))
    .execute();
  await db.schema.alterTable('operations').addColumn('cancel_requested_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('operations').dropColumn('cancel_requested_at').execute();
  await db.schema.alterTable('idempotency_keys').dropColumn('operation_id').dropColumn('claim_id').execute();
}
