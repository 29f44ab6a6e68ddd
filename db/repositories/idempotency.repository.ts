import { sql, type Kysely, type Transaction } from 'kysely';
import { json, type Database } from '../database';

type Executor = Kysely<Database> | Transaction<Database>;

/** How long a key is remembered (and replayed). */
export const IDEMPOTENCY_TTL_HOURS = 24;
/**
 * An `in_progress` claim older than this is considered abandoned (the process that made it died
 * before finishing), so the key may be claimed again instead of answering 409 for a whole day.
 */
export const IDEMPOTENCY_STALE_CLAIM_SECONDS = 300;

export type ClaimResult =
  | { outcome: 'claimed' }
  | { outcome: 'in_progress'; requestHash: string }
  | { outcome: 'done'; requestHash: string; status: number; body: unknown };

/**
 * Claims `key` for a request with `requestHash`, or reports who holds it. An expired record (older
 * than the TTL) or an abandoned claim is taken over in the same statement, so two concurrent
 * requests can never both see `claimed`.
 */
export async function claimIdempotencyKey(db: Executor, accountId: string, key: string, requestHash: string): Promise<ClaimResult> {
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({ account_id: accountId, key, request_hash: requestHash, state: 'in_progress' })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'key'])
        .doUpdateSet({
          request_hash: requestHash,
          state: 'in_progress',
          response_status: null,
          response_body: null,
          created_at: sql`now()`,
        })
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`),
            eb.and([
              eb('idempotency_keys.state', '=', 'in_progress'),
              eb('idempotency_keys.created_at', '<', sql<Date>`now() - make_interval(secs => ${IDEMPOTENCY_STALE_CLAIM_SECONDS})`),
            ]),
          ]),
        ),
    )
    .returning('key')
    .executeTakeFirst();
  if (claimed) return { outcome: 'claimed' };
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'state', 'response_status', 'response_body'])
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .executeTakeFirst();
  // Deleted between the two statements (its request failed): the caller may simply try again.
  if (!row) return claimIdempotencyKey(db, accountId, key, requestHash);
  if (row.state === 'in_progress') return { outcome: 'in_progress', requestHash: row.request_hash };
  return { outcome: 'done', requestHash: row.request_hash, status: row.response_status ?? 200, body: row.response_body };
}

export async function completeIdempotencyKey(db: Executor, accountId: string, key: string, status: number, body: unknown): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ state: 'done', response_status: status, response_body: json(body ?? null) })
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .execute();
}

/** Forgets a claim whose request did not succeed, so the client may retry with the same key. */
export async function releaseIdempotencyKey(db: Executor, accountId: string, key: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('account_id', '=', accountId).where('key', '=', key).where('state', '=', 'in_progress').execute();
}

export async function purgeIdempotencyKeys(db: Executor): Promise<number> {
  const res = await db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
