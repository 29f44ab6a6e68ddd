import { inject } from 'vitest';
import { createDb, type Db } from '../../db/database';
import { newId } from '../../lib/ids';

/** The run's migrated test database (see global-setup.ts). Destroy it in afterAll. */
export function testDb(max = 5): Db {
  return createDb(inject('databaseUrl'), max);
}

/** A fresh account, so tests never see each other's rows. */
export async function createTestAccount(
  db: Db,
  plan: 'starter' | 'professional' | 'enterprise' = 'enterprise',
): Promise<string> {
  const id = newId('account');
  await db
    .insertInto('accounts')
    .values({ id, name: `test-${id}`, plan })
    .execute();
  return id;
}
