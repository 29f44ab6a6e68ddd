import { sql } from 'kysely';
import { newId } from '../../lib/ids';
import { generateApiKey, hashApiKey, KEY_PREFIX, type KeyKind } from '../../lib/secrets';
import type { Account, ApiKey, Executor } from '../database';

/** What is safe to show about a key: its prefix and the first characters of its random part. */
export function keyHint(secret: string, kind: KeyKind): string {
  return `${KEY_PREFIX[kind]}${secret.slice(KEY_PREFIX[kind].length, KEY_PREFIX[kind].length + 4)}…`;
}

/**
 * Creates a key and returns its secret. Only the SHA-256 of the secret is stored: this return value
 * is the one and only time the secret exists outside the client.
 */
export async function createApiKey(
  db: Executor,
  input: { accountId: string; kind: KeyKind; name?: string | null },
): Promise<{ apiKey: ApiKey; secret: string }> {
  const secret = generateApiKey(input.kind);
  const apiKey = await db
    .insertInto('api_keys')
    .values({
      id: newId('key'),
      account_id: input.accountId,
      kind: input.kind,
      name: input.name ?? null,
      hint: keyHint(secret, input.kind),
      key_hash: hashApiKey(secret),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { apiKey, secret };
}

export interface AuthenticatedKey {
  key: ApiKey;
  plan: Account['plan'];
}

/** The key (revoked or not) whose hash is `keyHash`, with its account's plan. */
export async function findKeyByHash(db: Executor, keyHash: string): Promise<AuthenticatedKey | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .innerJoin('accounts', 'accounts.id', 'api_keys.account_id')
    .selectAll('api_keys')
    .select('accounts.plan as plan')
    .where('api_keys.key_hash', '=', keyHash)
    .executeTakeFirst();
  if (!row) return undefined;
  const { plan, ...key } = row;
  return { key, plan };
}

export async function getApiKey(db: Executor, accountId: string, id: string): Promise<ApiKey | undefined> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listApiKeys(
  db: Executor,
  accountId: string,
  filter: { kinds?: readonly KeyKind[] } = {},
  page: { limit: number; offset: number } = { limit: 1000, offset: 0 },
): Promise<{ rows: ApiKey[]; total: number }> {
  let q = db.selectFrom('api_keys').where('account_id', '=', accountId);
  if (filter.kinds) q = q.where('kind', 'in', [...filter.kinds]);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/**
 * Hooks called right after this process changed what findKeyByHash answers (a key revoked, an
 * account's plan changed) through `db`: api/key-cache.ts forgets its kept lookups at once, before
 * the commit's NOTIFY (migration 0603) reaches it, so the process that revoked a key refuses it on
 * its very next request. Keyed by the database handle, so only the caches reading that handle.
 */
const changeHooks = new WeakMap<object, Set<() => void>>();

export function onApiKeysChanged(db: Executor, hook: () => void): () => void {
  let hooks = changeHooks.get(db);
  if (!hooks) changeHooks.set(db, (hooks = new Set()));
  hooks.add(hook);
  return () => hooks.delete(hook);
}

/** Calls the hooks of `db` (after the change is committed: a transaction's handle has none). */
export function apiKeysChanged(db: Executor): void {
  for (const hook of changeHooks.get(db) ?? []) hook();
}

/** Revokes a key of the account; returns false when there is no such key. Revoking twice is a no-op. */
export async function revokeApiKey(db: Executor, accountId: string, id: string): Promise<boolean> {
  const key = await getApiKey(db, accountId, id);
  if (!key) return false;
  await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`coalesce(revoked_at, now())` })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .execute();
  apiKeysChanged(db);
  return true;
}

/**
 * Records that the key was used. The WHERE clause makes it a no-op when it was recorded less than a
 * minute ago, so a busy key does not turn every request into a row update (from any API process).
 */
export async function touchApiKey(db: Executor, id: string): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: sql`now()` })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`)]),
    )
    .execute();
}

/** The id of the account's unrevoked key whose hash is `keyHash`. */
export async function findActiveKeyId(db: Executor, accountId: string, keyHash: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select('id')
    .where('key_hash', '=', keyHash)
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row?.id;
}

/** A key by id, whatever its account (the operator's CLI). */
export async function getApiKeyById(
  db: Executor,
  id: string,
): Promise<Pick<ApiKey, 'account_id' | 'revoked_at' | 'hint'> | undefined> {
  return db.selectFrom('api_keys').select(['account_id', 'revoked_at', 'hint']).where('id', '=', id).executeTakeFirst();
}

/** How many unrevoked keys each account has (accounts without one are absent). */
export async function activeKeyCounts(db: Executor): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('api_keys')
    .select((eb) => ['account_id', eb.fn.countAll<string>().as('n')])
    .where('revoked_at', 'is', null)
    .groupBy('account_id')
    .execute();
  return new Map(rows.map((c) => [c.account_id, Number(c.n)]));
}
