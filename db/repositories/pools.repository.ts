import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Pool } from '../database';

type Executor = Kysely<Database> | Transaction<Database>;

export async function getPoolById(db: Executor, id: string): Promise<Pool | undefined> {
  return db.selectFrom('pools').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getPoolByName(db: Executor, clusterId: string, name: string, forUpdate = false): Promise<Pool | undefined> {
  let q = db.selectFrom('pools').selectAll().where('cluster_id', '=', clusterId).where('name', '=', name);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function listPools(db: Executor, clusterId: string, page: { limit: number; offset: number }): Promise<{ rows: Pool[]; total: number }> {
  const q = db.selectFrom('pools').where('cluster_id', '=', clusterId);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function poolNames(db: Executor, clusterId: string, excludePoolId?: string): Promise<string[]> {
  let q = db.selectFrom('pools').select('name').where('cluster_id', '=', clusterId);
  if (excludePoolId) q = q.where('id', '!=', excludePoolId);
  return (await q.execute()).map((r) => r.name);
}

export async function updatePool(
  db: Executor,
  id: string,
  change: { status?: Pool['status']; status_reason?: string | null; pg_num?: number; size?: number; min_size?: number },
): Promise<void> {
  await db
    .updateTable('pools')
    .set({ ...change, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function deletePool(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('pools').where('id', '=', id).execute();
}
