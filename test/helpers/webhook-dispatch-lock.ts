import pg from 'pg';
import { inject } from 'vitest';

/**
 * The webhook dispatcher takes every undispatched delivery in the database (one deployment, one
 * database), but test files share the run's database and each worker has its own NF_SECRET_KEY: a
 * dispatcher of one file would take another file's deliveries, fail to decrypt their secrets and
 * fail them. Each test file that runs a dispatcher (NF_WEBHOOK_DISPATCH_MS > 0) holds this lock (a
 * PostgreSQL session advisory lock on its own connection) from before its first worker starts until
 * its last worker and dispatcher Schedule are gone, so two such files never dispatch at once.
 */
export async function holdWebhookDispatchLock(): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  await client.query(`select pg_advisory_lock(hashtext('nodefoundry-test-webhook-dispatch'))`);
  return async () => {
    await client.query(`select pg_advisory_unlock(hashtext('nodefoundry-test-webhook-dispatch'))`).catch(() => {});
    await client.end();
  };
}

/** How long a file may wait for the lock: another file's dispatching tests, whole. */
export const DISPATCH_LOCK_WAIT_MS = 600_000;
