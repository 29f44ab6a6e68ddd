import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../db/database';
import { createSandboxDriverSet } from '../../drivers/sandbox';
import { sandboxVersionString } from '../../lib/ceph-releases';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { startTestWorker } from '../helpers/worker';
import { cephState, recordHistory, sandboxCluster, waitForOperation, type FixtureCluster } from './upgrade-fixtures';

/**
 * Reef → Tentacle through the API with the sandbox (issue 10): Tentacle raises HEALTH_ERR
 * (AUTH_INSECURE_*) from its first daemon while the cluster's cephx keys are the older type, as the
 * real one does; the upgrade treats those checks as expected, still stops for any other ERR check,
 * and finishes with `ceph osd require-osd-release tentacle` once every daemon runs it.
 */
let api: TestApi;
let worker: RunningWorker;

beforeAll(async () => {
  api = await startTestApi({
    NF_WAIT_CEPH_MS: '3000',
    NF_WAIT_POWER_MS: '3000',
    NF_WAIT_SSH_MS: '3000',
    NF_LOG_LEVEL: 'silent',
  });
  worker = await startTestWorker(api.config, api.db);
});

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
});

const post = (path: string, body?: unknown) => api.request('POST', path, body === undefined ? {} : { body });

async function startUpgrade(clusterId: string, body: Record<string, unknown>): Promise<string> {
  const r = await post(`/v1/clusters/${clusterId}/upgrade`, body);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.data.operation_id;
}

const cephOf = (c: FixtureCluster) =>
  createSandboxDriverSet(api.db, api.account.accountId).ceph({
    clusterId: c.clusterId,
    admin: { host: c.nodes[0]!.ip_address, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
  });

/** Sets daemon `key` ("mon.<host>") to run `release` in the simulated cluster. */
async function setDaemonRelease(c: FixtureCluster, key: string, release: string): Promise<void> {
  const s = await cephState(api, c.clusterId);
  const upgrade = s.upgrade ?? {
    versions: {},
    pending: {},
    active_mgr: null,
    noautoscale: false,
    events: [],
    down_hosts: [],
    max_down_hosts: 0,
  };
  upgrade.versions[key] = sandboxVersionString(release);
  await api.db
    .updateTable('sandbox_ceph')
    .set({ state: json({ ...s, upgrade }) })
    .where('cluster_id', '=', c.clusterId)
    .execute();
}

/** A reef cluster one of whose mgrs already runs tentacle (an upgrade stopped after its first daemon). */
async function halfUpgraded(c: FixtureCluster): Promise<void> {
  const s = await cephState(api, c.clusterId);
  const upgrade = s.upgrade ?? {
    versions: {},
    pending: {},
    active_mgr: null,
    noautoscale: false,
    events: [],
    down_hosts: [],
    max_down_hosts: 0,
  };
  upgrade.versions[`mgr.${s.mgrs[1]}`] = sandboxVersionString('tentacle');
  await api.db
    .updateTable('sandbox_ceph')
    .set({ state: json({ ...s, upgrade }) })
    .where('cluster_id', '=', c.clusterId)
    .execute();
}

const paused = (op: any) => op.status === 'paused' || ['completed', 'failed', 'cancelled'].includes(op.status);

describe('reef → tentacle (issue 10)', () => {
  it("completes through Tentacle's HEALTH_ERR (AUTH_INSECURE_*), sets require-osd-release tentacle and says the checks remain", async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const id = await startUpgrade(c.clusterId, { ceph_version: 'tentacle', max_concurrent: 1 });
    const op = await waitForOperation(api, id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.result).toMatchObject({
      target_version: 'tentacle',
      hosts_done: 3,
      require_osd_release: 'tentacle',
      auth_insecure_checks_remain: true,
    });
    const logs: string[] = op.logs.map((l: any) => l.message);
    expect(logs).toContain('ceph osd require-osd-release tentacle: set');
    expect(logs.some((l) => l.startsWith('every mon, mgr and OSD runs 20.2.0'))).toBe(true);
    expect(logs.find((l) => l.includes('AUTH_INSECURE_*'))).toContain('docs/upgrades.md');
    // The gates the upgrade passed saw the cluster in HEALTH_ERR: it still is, for AUTH_INSECURE_* only.
    const health = await cephOf(c).status();
    expect(health.health).toBe('HEALTH_ERR');
    expect(health.checks.filter((x) => x.severity === 'HEALTH_ERR').map((x) => x.code)).toEqual([
      'AUTH_INSECURE_SERVICE_KEY_TYPE',
      'AUTH_INSECURE_SERVICE_TICKETS',
    ]);
    // require-osd-release caught up: no OSD_UPGRADE_FINISHED left.
    expect(health.checks.map((x) => x.code)).not.toContain('OSD_UPGRADE_FINISHED');
    const s = await cephState(api, c.clusterId);
    expect(s.upgrade!.require_osd_release).toBe('tentacle');
    const kinds = s.upgrade!.events.map((e) => e.kind);
    // After the last host came up, before autoscaling was restored.
    expect(kinds.slice(-2)).toEqual(['require_osd_release', 'autoscale_released']);
    expect(
      Object.values(await cephOf(c).versions()).every((v) => Object.keys(v).every((k) => k.includes(' tentacle '))),
    ).toBe(true);
    expect(s.noout_hosts).toEqual([]);
    const cluster = await api.db
      .selectFrom('clusters')
      .selectAll()
      .where('id', '=', c.clusterId)
      .executeTakeFirstOrThrow();
    expect(cluster.ceph_version).toBe('tentacle');
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--tentacle-require-osd-release');
  });

  it('preflight lets AUTH_INSECURE_* through on the way to tentacle but refuses another ERR check, naming it', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    await halfUpgraded(c);
    const before = await cephOf(c).status();
    expect(before.health).toBe('HEALTH_ERR');
    const dry = await post(`/v1/clusters/${c.clusterId}/upgrade?dry_run=true`, { ceph_version: 'tentacle' });
    expect(dry.status).toBe(200);
    expect(dry.body.data.refusals).toEqual([]);
    expect(dry.body.data.would_run).toBe(true);
    await api.request('PUT', `/v1/sandbox/clusters/${c.clusterId}/faults`, { body: { faults: { health_err: true } } });
    const refused = await post(`/v1/clusters/${c.clusterId}/upgrade?dry_run=true`, { ceph_version: 'tentacle' });
    expect(refused.body.data.would_run).toBe(false);
    expect(refused.body.data.refusals).toEqual([
      {
        code: 'health_err',
        message: 'The cluster reports HEALTH_ERR (OSD_FULL (1 full osd(s))); resolve it before upgrading.',
      },
    ]);
  });

  it('another ERR check mid-upgrade still pauses it, naming the check; cleared and resumed, it completes', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    await halfUpgraded(c);
    const id = await startUpgrade(c.clusterId, { ceph_version: 'tentacle' });
    expect((await post(`/v1/operations/${id}/pause`)).status).toBe(200);
    await expect
      .poll(
        async () =>
          (await api.db.selectFrom('operations').select('status').where('id', '=', id).executeTakeFirstOrThrow())
            .status,
        { timeout: 30_000 },
      )
      .toBe('paused');
    await api.request('PUT', `/v1/sandbox/clusters/${c.clusterId}/faults`, { body: { faults: { health_err: true } } });
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(200);
    const op = await waitForOperation(api, id, (o) => paused(o) && o.error?.code === 'health_err');
    expect(op.status).toBe('paused');
    expect(op.error.message).toContain('HEALTH_ERR (OSD_FULL (1 full osd(s)))');
    expect(op.error.message).not.toContain('AUTH_INSECURE');
    await api.request('PUT', `/v1/sandbox/clusters/${c.clusterId}/faults`, { body: { faults: {} } });
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(200);
    const end = await waitForOperation(api, id);
    expect(end.status, JSON.stringify(end.error)).toBe('completed');
    expect(end.result).toMatchObject({ require_osd_release: 'tentacle' });
    expect((await cephState(api, c.clusterId)).noout_hosts).toEqual([]);
  });

  it('a daemon that does not run the target at the end fails the last step naming it; require-osd-release is not set, nothing left flagged', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const mon = (await cephState(api, c.clusterId)).mons[2]!;
    // mon 3 already runs tentacle, so the plan leaves it out ...
    await setDaemonRelease(c, `mon.${mon}`, 'tentacle');
    const id = await startUpgrade(c.clusterId, { ceph_version: 'tentacle' });
    expect((await post(`/v1/operations/${id}/pause`)).status).toBe(200);
    await expect
      .poll(
        async () =>
          (await api.db.selectFrom('operations').select('status').where('id', '=', id).executeTakeFirstOrThrow())
            .status,
        { timeout: 30_000 },
      )
      .toBe('paused');
    // ... and while the upgrade is paused someone puts reef back on it.
    await setDaemonRelease(c, `mon.${mon}`, 'reef');
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(200);
    const op = await waitForOperation(api, id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('upgrade_not_applied');
    expect(op.error.message).toContain(
      `Not every daemon runs tentacle: mon.${mon} on ${mon} runs 18.2.4. require-osd-release was not set.`,
    );
    expect(op.steps.find((x: any) => x.name === 'upgrade_osd_hosts').status).toBe('failed');
    const s = await cephState(api, c.clusterId);
    expect(s.upgrade!.require_osd_release).toBeUndefined();
    expect(s.noout_hosts).toEqual([]);
    expect(s.upgrade!.noautoscale).toBe(false);
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
  });
});
