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
      status: 'online',
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
        bytes_total: null,
        bytes_used: null,
        bytes_avail: null,
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

/** A Ceph whose daemons run `versions` (type.id → version) and that records require-osd-release. */
function finishingCeph(versions: Record<string, string>, health: Pick<CephStatus, 'health' | 'checks'>) {
  const required: string[] = [];
  const long = (v: string) =>
    v.startsWith('20.')
      ? `ceph version ${v} (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)`
      : `ceph version ${v} (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)`;
  const daemons = Object.entries(versions).map(([key, version]): CephDaemonVersion => {
    const [type, id] = key.split('.') as ['mon' | 'mgr' | 'osd', string];
    return {
      type,
      id,
      host: `h${type === 'osd' ? Number(id) + 1 : id}`,
      version,
      release: version.startsWith('20.') ? 'tentacle' : 'reef',
    };
  });
  const ceph = {
    async daemonVersions() {
      return daemons;
    },
    async versions() {
      const overall: Record<string, number> = {};
      for (const d of daemons) overall[long(d.version)] = (overall[long(d.version)] ?? 0) + 1;
      return { mon: {}, mgr: {}, osd: {}, overall };
    },
    async requireOsdRelease(release: string) {
      required.push(release);
      return { release };
    },
    async status() {
      return { ...health } as CephStatus;
    },
  } as unknown as CephDriver;
  const drivers = { for: () => ({ ceph: () => ceph }) } as unknown as DriverRegistry;
  return { activities: createUpgradeActivities({ db, drivers, config, logger: createLogger('silent') }), required };
}

const ok = { health: 'HEALTH_OK' as const, checks: [] };

describe('finishUpgrade (issue 10)', () => {
  it('every daemon at the target: require-osd-release tentacle is set', async () => {
    const { activities, required } = finishingCeph(
      { 'mon.1': '20.2.4', 'mgr.1': '20.2.4', 'osd.0': '20.2.4', 'osd.1': '20.2.4' },
      ok,
    );
    const r = await new MockActivityEnvironment().run(activities.finishUpgrade, {
      clusterId,
      targetVersion: 'tentacle',
    });
    expect(r).toEqual({ requireOsdRelease: 'tentacle', daemons: 4, version: '20.2.4', authInsecureChecks: [] });
    expect(required).toEqual(['tentacle']);
  });

  it("reports the AUTH_INSECURE_* checks the cluster still raises (the keys are the operator's to rotate)", async () => {
    const { parseHealthChecks } = await import('../../drivers/real/ceph-json');
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const h = parseHealthChecks(
      JSON.parse(
        readFileSync(path.resolve(__dirname, '../fixtures/ceph/tentacle-before-require.health_detail.json'), 'utf8'),
      ),
    );
    const { activities } = finishingCeph(
      { 'mon.1': '20.2.4', 'mgr.1': '20.2.4', 'osd.0': '20.2.4' },
      { health: h.status, checks: h.checks },
    );
    const r = await new MockActivityEnvironment().run(activities.finishUpgrade, {
      clusterId,
      targetVersion: 'tentacle',
    });
    expect((r as { authInsecureChecks: string[] }).authInsecureChecks).toEqual([
      'AUTH_INSECURE_CLIENT_KEY_TYPE',
      'AUTH_INSECURE_KEYS_ALLOWED',
      'AUTH_INSECURE_KEYS_CREATABLE',
      'AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE',
      'AUTH_INSECURE_SERVICE_KEY_TYPE',
      'AUTH_INSECURE_SERVICE_TICKETS',
    ]);
  });

  it('a daemon still on the old release fails the step naming it, and require-osd-release is left alone', async () => {
    const { activities, required } = finishingCeph(
      { 'mon.1': '20.2.4', 'mgr.1': '20.2.4', 'osd.0': '20.2.4', 'osd.1': '18.2.7' },
      ok,
    );
    const err = await new MockActivityEnvironment()
      .run(activities.finishUpgrade, { clusterId, targetVersion: 'tentacle' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'upgrade_not_applied',
      nonRetryable: true,
      message: 'Not every daemon runs tentacle: osd.1 on h2 runs 18.2.7. require-osd-release was not set.',
    });
    expect(required).toEqual([]);
  });
});

describe('assertNotHealthErr with the real mixed reef/tentacle health (issue 10)', () => {
  const mixed = async () => {
    const { parseHealthChecks } = await import('../../drivers/real/ceph-json');
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const doc = JSON.parse(
      readFileSync(path.resolve(__dirname, '../fixtures/ceph/reef-tentacle-mixed.health_detail.json'), 'utf8'),
    );
    const h = parseHealthChecks(doc);
    return { health: h.status, checks: h.checks };
  };

  it('passes on the way to tentacle; refuses on the way to squid (or without a target), naming the ERR checks', async () => {
    const { activities } = finishingCeph({}, await mixed());
    const env = new MockActivityEnvironment();
    await expect(
      env.run(activities.assertNotHealthErr, { clusterId, targetVersion: 'tentacle' }),
    ).resolves.toBeUndefined();
    const squid = await env
      .run(activities.assertNotHealthErr, { clusterId, targetVersion: 'squid' })
      .catch((e: unknown) => e);
    expect(squid).toMatchObject({ type: 'health_err', nonRetryable: true });
    expect((squid as Error).message).toBe(
      'The cluster reports HEALTH_ERR (AUTH_INSECURE_SERVICE_KEY_TYPE (5 auth service entities with insecure key types), AUTH_INSECURE_SERVICE_TICKETS (Monitors are configured to issue insecure service tickets)); no new daemon or host is touched until it is resolved.',
    );
    const old = await env.run(activities.assertNotHealthErr, { clusterId }).catch((e: unknown) => e);
    expect(old).toMatchObject({ type: 'health_err' });
  });

  it('another ERR check beside them still refuses on the way to tentacle', async () => {
    const h = await mixed();
    const { activities } = finishingCeph(
      {},
      {
        health: 'HEALTH_ERR',
        checks: [...h.checks, { code: 'OSD_FULL', severity: 'HEALTH_ERR', summary: '1 full osd(s)' }],
      },
    );
    const err = await new MockActivityEnvironment()
      .run(activities.assertNotHealthErr, { clusterId, targetVersion: 'tentacle' })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'The cluster reports HEALTH_ERR (OSD_FULL (1 full osd(s))); no new daemon or host is touched until it is resolved.',
    );
  });
});
