import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpgradeActivities } from '../../activities/upgrade.activities';
import type { Db } from '../../db/database';
import type { CephDaemonVersion, CephDriver, CephStatus, DriverRegistry } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { encryptSecret } from '../../lib/secrets';
import { testConfig } from '../helpers/config';
import { createTestAccount, testDb } from '../helpers/db';

/**
 * The activity that restarts (or upgrades) one mon or mgr, against a scripted Ceph driver (the
 * real PostgreSQL holds the cluster row it resolves). The lab's rolling restart runs it for real.
 */
let db: Db;
let clusterId: string;
const config = testConfig({ NF_POLL_INTERVAL_MS: '10', NF_WAIT_CEPH_MS: '10000' });

beforeAll(async () => {
  db = testDb(2);
  const accountId = await createTestAccount(db);
  const nodeId = newId('node');
  clusterId = newId('cluster');
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'live',
      name: 'c',
      status: 'HEALTH_OK',
      ceph_version: '16.2.15',
    })
    .execute();
  await db
    .insertInto('nodes')
    .values({
      id: nodeId,
      account_id: accountId,
      environment: 'live',
      address_scope: 'live',
      hostname: 'mon-a',
      ip_address: '192.0.2.10',
      ssh_port: 22,
      ssh_user: 'root',
      ssh_private_key_enc: encryptSecret(config.secretKey, 'not a key: never used by the scripted driver'),
      ipmi_address: '192.0.2.110',
      ipmi_port: 623,
      ipmi_username: 'admin',
      ipmi_password_enc: encryptSecret(config.secretKey, 'unused'),
      status: 'active',
      cluster_id: clusterId,
    } as never)
    .execute();
  await db.updateTable('clusters').set({ admin_node_id: nodeId }).where('id', '=', clusterId).execute();
});
afterAll(async () => {
  await db?.destroy();
});

/** A mon that takes `outOfQuorumPolls` status reads to rejoin after its restart. */
function scriptedCeph(outOfQuorumPolls: number) {
  const calls = { redeploy: 0, status: 0 };
  const ceph = {
    async monOkToStop() {
      return { ok: true, reason: null };
    },
    async redeployDaemon() {
      calls.redeploy += 1;
      return { done: true };
    },
    async daemonVersions(): Promise<CephDaemonVersion[]> {
      return [{ type: 'mon', id: 'mon-a', host: 'mon-a', version: '16.2.15', release: 'pacific' }];
    },
    async status(): Promise<CephStatus> {
      calls.status += 1;
      const quorum = calls.status > outOfQuorumPolls ? ['mon-a', 'mon-b', 'mon-c'] : ['mon-b', 'mon-c'];
      return {
        health: 'HEALTH_WARN',
        checks: [],
        osds_total: 3,
        osds_up: 3,
        osds_in: 3,
        pgs_total: 1,
        pgs_active_clean: 1,
        mgr_available: true,
        mons_in_quorum: quorum,
        mons_total: 3,
        flags: [],
      };
    },
  } as unknown as CephDriver;
  return { ceph, calls };
}

describe('redeployCephDaemon', () => {
  it('restarts a mon once, then only polls until it is back in quorum (no restart loop while it rejoins)', async () => {
    const { ceph, calls } = scriptedCeph(3);
    const drivers = { for: () => ({ ceph: () => ceph }) } as unknown as DriverRegistry;
    const activities = createUpgradeActivities({ db, drivers, config, logger: createLogger('silent') });
    const r = await new MockActivityEnvironment().run(activities.redeployCephDaemon, {
      clusterId,
      targetVersion: '16.2.15',
      mode: 'restart' as const,
      type: 'mon' as const,
      host: 'mon-a',
    });
    expect(r).toEqual({ version: '16.2.15' });
    expect(calls.status).toBe(4);
    expect(calls.redeploy).toBe(1);
  });
});
