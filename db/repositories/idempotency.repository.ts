import { sql } from 'kysely';
import { json, type Executor } from '../database';

/** How long a key is remembered (and replayed). */
export const IDEMPOTENCY_TTL_HOURS = 24;
/**
 * An `in_progress` claim older than this is considered abandoned (the process that made it died
 * before finishing), so the key may be claimed again instead of answering 409 for a whole day.
 */
export const IDEMPOTENCY_STALE_CLAIM_SECONDS = 300;

export type ClaimResult =
  | { outcome: 'claimed' }
  | { outcome: 'in_progress'; requestHash: string; operationId: string | null }
  | { outcome: 'done'; requestHash: string; status: number; body: unknown };

/** The API process making a claim (api_instances.id) and the liveness bound of every process's claims. */
export interface ClaimHolder {
  instanceId: string;
  livenessMs: number;
}

/**
 * Claims `key` for a request with `requestHash` (the claim is `claimId`'s), or reports who holds it.
 * An expired record (older than the TTL) or an abandoned claim is taken over in the same statement,
 * so two concurrent requests can never both see `claimed`. A claim is abandoned when it is older than
 * IDEMPOTENCY_STALE_CLAIM_SECONDS, or when the API process that made it (claimed_by) has no
 * api_instances row seen within `holder.livenessMs` (it died, or stalled that long: a live process
 * refreshes its row every third of the bound). A claim bound to an operation is never abandoned: its
 * request did its work, only its answer was lost.
 */
export async function claimIdempotencyKey(
  db: Executor,
  accountId: string,
  key: string,
  requestHash: string,
  claimId: string | null = null,
  holder: ClaimHolder | null = null,
): Promise<ClaimResult> {
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({
      account_id: accountId,
      key,
      request_hash: requestHash,
      state: 'in_progress',
      claim_id: claimId,
      claimed_by: holder?.instanceId ?? null,
    })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'key'])
        .doUpdateSet({
          request_hash: requestHash,
          state: 'in_progress',
          response_status: null,
          response_body: null,
          created_at: sql`now()`,
          claim_id: claimId,
          claimed_by: holder?.instanceId ?? null,
          operation_id: null,
        })
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`),
            eb.and([
              eb('idempotency_keys.state', '=', 'in_progress'),
              eb('idempotency_keys.operation_id', 'is', null),
              eb.or([
                eb(
                  'idempotency_keys.created_at',
                  '<',
                  sql<Date>`now() - make_interval(secs => ${IDEMPOTENCY_STALE_CLAIM_SECONDS})`,
                ),
                eb.and([
                  eb('idempotency_keys.claimed_by', 'is not', null),
                  eb.not(
                    eb.exists(
                      eb
                        .selectFrom('api_instances')
                        .select('api_instances.id')
                        .whereRef('api_instances.id', '=', 'idempotency_keys.claimed_by')
                        .where(
                          'api_instances.last_seen',
                          '>=',
                          sql<Date>`now() - make_interval(secs => ${(holder?.livenessMs ?? IDEMPOTENCY_STALE_CLAIM_SECONDS * 1000) / 1000})`,
                        ),
                    ),
                  ),
                ]),
              ]),
            ]),
          ]),
        ),
    )
    .returning('key')
    .executeTakeFirst();
  if (claimed) return { outcome: 'claimed' };
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'state', 'response_status', 'response_body', 'operation_id'])
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .executeTakeFirst();
  // Deleted between the two statements (its request failed): the caller may simply try again.
  if (!row) return claimIdempotencyKey(db, accountId, key, requestHash, claimId, holder);
  if (row.state === 'in_progress')
    return { outcome: 'in_progress', requestHash: row.request_hash, operationId: row.operation_id };
  return {
    outcome: 'done',
    requestHash: row.request_hash,
    status: row.response_status ?? 200,
    body: row.response_body,
  };
}

/**
 * Stores the answer of the request holding the claim (`claimId`, when given: only its own claim);
 * false when there was nothing to store it in (the claim was taken over).
 */
export async function completeIdempotencyKey(
  db: Executor,
  accountId: string,
  key: string,
  status: number,
  body: unknown,
  claimId?: string,
): Promise<boolean> {
  let q = db
    .updateTable('idempotency_keys')
    .set({ state: 'done', response_status: status, response_body: json(body ?? null) })
    .where('account_id', '=', accountId)
    .where('key', '=', key);
  if (claimId) q = q.where('claim_id', '=', claimId);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * Forgets a claim whose request did not succeed, so the client may retry with the same key; not a
 * claim bound to an operation (the request's outcome is that operation, whatever it answered).
 */
export async function releaseIdempotencyKey(
  db: Executor,
  accountId: string,
  key: string,
  claimId?: string,
): Promise<void> {
  let q = db
    .deleteFrom('idempotency_keys')
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .where('state', '=', 'in_progress')
    .where('operation_id', 'is', null);
  if (claimId) q = q.where('claim_id', '=', claimId);
  await q.execute();
}

export interface IdempotencyClaim {
  accountId: string;
  key: string;
  claimId: string;
}

/**
 * Binds the request's claim to the operation it creates; called in the operation row's own
 * transaction, so the operation exists iff a retry under the key finds it. Answers false when the
 * claim is no longer this request's (taken over after going stale): the caller must then not create
 * the operation.
 */
export async function bindIdempotencyKey(db: Executor, claim: IdempotencyClaim, operationId: string): Promise<boolean> {
  const res = await db
    .updateTable('idempotency_keys')
    .set({ operation_id: operationId })
    .where('account_id', '=', claim.accountId)
    .where('key', '=', claim.key)
    .where('claim_id', '=', claim.claimId)
    .where('state', '=', 'in_progress')
    .where('operation_id', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Forgets the key bound to an operation that certainly never started (nothing was changed). */
export async function forgetKeyOfOperation(db: Executor, operationId: string): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('operation_id', '=', operationId)
    .where('state', '=', 'in_progress')
    .execute();
}

export async function purgeIdempotencyKeys(db: Executor): Promise<number> {
  const res = await db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
