import { sql, type Insertable } from 'kysely';
import type { Executor, Pool, PoolsTable } from '../database';

export async function getPoolById(db: Executor, id: string): Promise<Pool | undefined> {
  return db.selectFrom('pools').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getPoolByName(
  db: Executor,
  clusterId: string,
  name: string,
  forUpdate = false,
): Promise<Pool | undefined> {
  let q = db.selectFrom('pools').selectAll().where('cluster_id', '=', clusterId).where('name', '=', name);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function listPools(
  db: Executor,
  clusterId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: Pool[]; total: number }> {
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
  change: {
    status?: Pool['status'];
    status_reason?: string | null;
    pg_num?: number;
    size?: number;
    min_size?: number;
    k?: number | null;
    m?: number | null;
  },
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

/** The names of the cluster's pools, in name order. */
export async function poolNamesInOrder(db: Executor, clusterId: string): Promise<string[]> {
  return (
    await db.selectFrom('pools').select('name').where('cluster_id', '=', clusterId).orderBy('name').execute()
  ).map((p) => p.name);
}

export async function countPools(db: Executor, clusterId: string): Promise<number> {
  const row = await db
    .selectFrom('pools')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('cluster_id', '=', clusterId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertPool(db: Executor, pool: Insertable<PoolsTable>): Promise<void> {
  await db.insertInto('pools').values(pool).execute();
}

/**
 * A pool found in Ceph at import, upserted by name: a pool recorded already keeps its id, type and
 * profile, and takes Ceph's size, min_size, pg_num, autoscale and application.
 */
export async function upsertImportedPool(db: Executor, pool: Insertable<PoolsTable>): Promise<void> {
  await db
    .insertInto('pools')
    .values(pool)
    .onConflict((oc) =>
      oc.columns(['cluster_id', 'name']).doUpdateSet((eb) => ({
        size: eb.ref('excluded.size'),
        min_size: eb.ref('excluded.min_size'),
        pg_num: eb.ref('excluded.pg_num'),
        pg_autoscale: eb.ref('excluded.pg_autoscale'),
        application: eb.ref('excluded.application'),
        updated_at: sql`now()`,
      })),
    )
    .execute();
}
