import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Db } from './database';
import * as m0001 from './migrations/2026-11-23-0001-initial';
import * as m0002 from './migrations/2026-11-23-0002-cluster-resources';
import * as m0003 from './migrations/2026-12-04-0002-start-outcomes';
import * as m0004 from './migrations/2026-12-04-0003-machine-identity-and-rate-buckets';
import * as m0005 from './migrations/2026-12-04-0004-sandbox-event-origins';
import * as m0006 from './migrations/2026-12-04-0005-operation-changes';
import * as m0007 from './migrations/2026-12-04-0006-api-instances';
import * as m0008 from './migrations/2026-12-05-0001-cluster-deployment';
import * as m0009 from './migrations/2026-12-05-0002-events';
import * as m0010 from './migrations/2026-12-05-0003-cluster-health';
import * as m0011 from './migrations/2026-12-05-0004-node-online';
import * as m0012 from './migrations/2026-12-05-0005-osd-expected-weight';
import * as m0013 from './migrations/2026-12-05-0006-cluster-usage';
import * as m0014 from './migrations/2026-12-05-0007-ceph-point-version';
import * as m0015 from './migrations/2026-12-05-0008-node-maintenance';
import * as m0016 from './migrations/2026-12-05-0012-bmc-protocol';
import * as m0601 from './migrations/2026-12-05-0601-sandbox-ceph-revision';
import * as m0602 from './migrations/2026-12-05-0602-start-operation-function';
import * as m0603 from './migrations/2026-12-05-0603-api-key-notify';

/** Listed explicitly (not read from disk) so the order is reviewed code and bundling cannot lose a file. */
const MIGRATIONS: Record<string, Migration> = {
  '2026-11-23-0001-initial': m0001,
  '2026-11-23-0002-cluster-resources': m0002,
  '2026-12-04-0002-start-outcomes': m0003,
  '2026-12-04-0003-machine-identity-and-rate-buckets': m0004,
  '2026-12-04-0004-sandbox-event-origins': m0005,
  '2026-12-04-0005-operation-changes': m0006,
  '2026-12-04-0006-api-instances': m0007,
  '2026-12-05-0001-cluster-deployment': m0008,
  '2026-12-05-0002-events': m0009,
  '2026-12-05-0003-cluster-health': m0010,
  '2026-12-05-0004-node-online': m0011,
  '2026-12-05-0005-osd-expected-weight': m0012,
  '2026-12-05-0006-cluster-usage': m0013,
  '2026-12-05-0007-ceph-point-version': m0014,
  '2026-12-05-0008-node-maintenance': m0015,
  '2026-12-05-0012-bmc-protocol': m0016,
  '2026-12-05-0601-sandbox-ceph-revision': m0601,
  '2026-12-05-0602-start-operation-function': m0602,
  '2026-12-05-0603-api-key-notify': m0603,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies pending migrations; throws (and so stops the process) when one fails. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'nf_migrations',
    migrationLockTableName: 'nf_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const why = error instanceof Error ? error.message : String(error ?? '');
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${why}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
