import { sql } from 'kysely';
import type { Executor } from '../database';

/** Rows of API processes unseen for this long are deleted when another process starts. */
const FORGET_INSTANCES_HOURS = 24;

/** Registers (or refreshes) the API process `id`: its last_seen is now. */
export async function touchApiInstance(db: Executor, id: string): Promise<void> {
  await db
    .insertInto('api_instances')
    .values({ id })
    .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen: sql`now()` }))
    .execute();
}

/** Registers a starting API process, and forgets processes long gone. */
export async function registerApiInstance(db: Executor, id: string): Promise<void> {
  await db
    .deleteFrom('api_instances')
    .where('last_seen', '<', sql<Date>`now() - make_interval(hours => ${FORGET_INSTANCES_HOURS})`)
    .execute();
  await touchApiInstance(db, id);
}

/** A stopping API process: its remaining claims (none after a clean drain) are abandoned at once. */
export async function removeApiInstance(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('api_instances').where('id', '=', id).execute();
}
