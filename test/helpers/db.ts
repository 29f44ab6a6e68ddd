import { inject } from 'vitest';
import { createDb, type Db } from '../../db/database';
import { finishOperation } from '../../db/repositories/operations.repository';
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

/** What the worker writes when an operation completes (final state, locks released), for tests that start operations without a worker. */
export async function completeOperationRow(db: Db, operationId: string): Promise<void> {
  await finishOperation(db, operationId, {
    status: 'completed',
    progress: 100,
    current_step: null,
    steps: [],
    logs: [],
    error: null,
    result: null,
    started_at: null,
    completed_at: new Date().toISOString(),
  });
}
