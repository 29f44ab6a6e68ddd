import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../db/database';
import { createSandboxDriverSet, getSandboxMachine, listPowerEvents, setMachineFaults } from '../../drivers/sandbox';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { startTestWorker } from '../helpers/worker';
import { cephState, recordHistory, sandboxCluster, waitForOperation, type FixtureCluster } from './upgrade-fixtures';

/**
 * The rolling upgrade end to end: HTTP API → Temporal (parent + one child per host) → sandbox Ceph
 * → PostgreSQL. Assertions read the simulator's event log, so they see what the cluster saw.
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

const paused = (op: any) => op.status === 'paused' || ['completed', 'failed', 'cancelled'].includes(op.status);

async function startUpgrade(clusterId: string, body: Record<string, unknown>): Promise<string> {
  const r = await api.request('POST', `/v1/clusters/${clusterId}/upgrade`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.data.operation_id;
}

async function post(path: string, body?: unknown) {
  return api.request('POST', path, body === undefined ? {} : { body });
}

/** Nothing left behind: no noout, autoscale released, every OSD up, no lock held. */
async function expectRestored(c: FixtureCluster, operationId: string): Promise<void> {
  const s = await cephState(api, c.clusterId);
  expect(s.noout_hosts).toEqual([]);
  expect(s.upgrade?.noautoscale ?? false).toBe(false);
  expect(s.upgrade?.down_hosts ?? []).toEqual([]);
  expect(s.osds.filter((o) => o.stopped_at !== null).map((o) => o.id)).toEqual([]);
  expect(
    await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', operationId).execute(),
  ).toEqual([]);
}

/** The pause has taken effect at a safe point (the workflow records it in the row only there). */
async function pausedAtSafePoint(id: string): Promise<void> {
  await expect
    .poll(
      async () =>
        (await api.db.selectFrom('operations').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status,
      { timeout: 30_000 },
    )
    .toBe('paused');
}

function upgradedCount(events: { kind: string; host: string | null }[], host: string): number {
  return events.filter((e) => e.kind === 'host_upgraded' && e.host === host).length;
}

describe('rolling upgrade', () => {
  it('upgrades reef → squid: mgr standbys, failover, mons, then every OSD host once; autoscale frozen and restored', async () => {
    const c = await sandboxCluster(api, { hosts: 4 });
    const { clusterId, nodes } = c;
    const before = await cephState(api, clusterId);
    const id = await startUpgrade(clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    const op = await waitForOperation(api, id);
    expect(op.status, JSON.stringify(op, null, 1)).toBe('completed');
    expect(op.progress).toBe(100);
    expect(op.result).toMatchObject({ hosts_total: 4, hosts_done: 4, target_version: 'squid' });
    const s = await cephState(api, clusterId);
    const events = s.upgrade!.events;
    const kinds = events.map((e) => `${e.kind}${e.daemon ? `:${e.daemon}` : e.host ? `:${e.host}` : ''}`);
    // Order: freeze → mgr standby → failover → old active mgr → mons → OSD hosts → release.
    const [active, standby] = [before.mgrs[0]!, before.mgrs[1]!];
    expect(kinds.slice(0, 4)).toEqual([
      'autoscale_frozen',
      `daemon_redeployed:mgr.${standby}`,
      `mgr_failover:mgr.${standby}`,
      `daemon_redeployed:mgr.${active}`,
    ]);
    expect(kinds.slice(4, 7)).toEqual(before.mons.map((m) => `daemon_redeployed:mon.${m}`));
    expect(kinds.slice(7, 7 + 3 * nodes.length).every((k) => k.startsWith('host_'))).toBe(true);
    expect(kinds[kinds.length - 1]).toBe('autoscale_released');
    for (const n of nodes) expect(upgradedCount(events, n.hostname)).toBe(1);
    expect(s.upgrade!.max_down_hosts).toBe(1);
    expect(Object.values(s.upgrade!.versions).every((v) => v.includes(' squid '))).toBe(true);
    const cluster = await api.db
      .selectFrom('clusters')
      .selectAll()
      .where('id', '=', clusterId)
      .executeTakeFirstOrThrow();
    expect(cluster.ceph_version).toBe('squid');
    await expectRestored(c, id);
    // Children: readable ids, searchable by the operation.
    const children = [];
    for await (const w of api.client.workflow.list({
      query: `NfOperationId = '${id}' AND WorkflowType = 'upgradeHostWorkflow'`,
    }))
      children.push(w.workflowId);
    expect(children.sort()).toEqual(nodes.map((n) => `${clusterId}/upgrade/${id}/host/${n.hostname}`).sort());
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--completed');
    await recordHistory(api, `${op.temporal.workflow_id}/host/${nodes[0]!.hostname}`, 'upgradeHostWorkflow--completed');
  });

  it('a rolling restart keeps the version and restarts every host once', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const id = await startUpgrade(c.clusterId, { mode: 'restart', max_concurrent: 2 });
    const op = await waitForOperation(api, id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    const s = await cephState(api, c.clusterId);
    for (const n of c.nodes) expect(upgradedCount(s.upgrade!.events, n.hostname)).toBe(1);
    expect(
      s.upgrade!.events.filter((e) => e.kind === 'host_upgraded').every((e) => e.version!.includes(' reef ')),
    ).toBe(true);
    expect(
      (
        await api.db
          .selectFrom('clusters')
          .select('ceph_version')
          .where('id', '=', c.clusterId)
          .executeTakeFirstOrThrow()
      ).ceph_version,
    ).toBe('reef');
    await expectRestored(c, id);
  });

  it('dry run: host batches (at most one mon host each), gates, nothing changed', async () => {
    const c = await sandboxCluster(api, { hosts: 4 });
    const r = await post(`/v1/clusters/${c.clusterId}/upgrade?dry_run=true`, {
      ceph_version: 'squid',
      max_concurrent: 3,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const plan = r.body.data;
    expect(plan.would_run).toBe(true);
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'freeze_autoscale',
      'upgrade_mgrs',
      'upgrade_mons',
      'upgrade_osd_hosts',
      'restore_autoscale',
      'refresh_state',
    ]);
    const [h1, h2, h3, h4] = c.nodes.map((n) => n.hostname);
    // 4 hosts → mons on the first 3 → batches of ≤ 3 with ≤ 1 mon host each.
    expect(plan.batches).toEqual([[h1, h4], [h2], [h3]]);
    expect(plan.facts).toMatchObject({ running_version: '18.2.4', target_version: 'squid', hosts_total: 4 });
    const s = await cephState(api, c.clusterId);
    expect(s.upgrade).toBeUndefined();
    expect(
      await api.db.selectFrom('operation_locks').selectAll().where('resource_id', '=', c.clusterId).execute(),
    ).toEqual([]);
  });

  it('refuses before changing anything: HEALTH_ERR, mon out of quorum, offline host, < 2 mgrs, downgrade, > 2 releases', async () => {
    const c = await sandboxCluster(api, { hosts: 4 });
    const { clusterId, nodes } = c;
    async function expectRefused(body: Record<string, unknown>, code: string, cluster = clusterId) {
      const dry = await post(`/v1/clusters/${cluster}/upgrade?dry_run=true`, body);
      expect(dry.status).toBe(200);
      expect(dry.body.data.would_run).toBe(false);
      expect(dry.body.data.refusals.map((x: any) => x.code)).toContain(code);
      const id = await startUpgrade(cluster, body);
      const op = await waitForOperation(api, id);
      expect(op.status).toBe('failed');
      expect(op.error.code).toBe(code);
      expect(op.steps.find((s: any) => s.name === 'preflight').status).toBe('failed');
      const s = await cephState(api, cluster);
      expect(s.upgrade?.events ?? []).toEqual([]);
      return op;
    }
    // HEALTH_ERR through the simulator's API.
    expect(
      (await api.request('PUT', `/v1/sandbox/clusters/${clusterId}/faults`, { body: { faults: { health_err: true } } }))
        .body.data.faults,
    ).toEqual(['health_err']);
    await expectRefused({ ceph_version: 'squid' }, 'health_err');
    await api.request('PUT', `/v1/sandbox/clusters/${clusterId}/faults`, { body: { faults: {} } });
    // Downgrade, and a jump of more than two releases.
    await expectRefused({ ceph_version: 'quincy' }, 'downgrade_refused');
    await expectRefused({ ceph_version: '18.2.1' }, 'downgrade_refused');
    const old = await sandboxCluster(api, { hosts: 3, cephVersion: 'pacific' });
    await expectRefused({ ceph_version: 'squid' }, 'version_jump_too_large', old.clusterId);
    const ok = await post(`/v1/clusters/${old.clusterId}/upgrade?dry_run=true`, { ceph_version: 'reef' });
    expect(ok.body.data.would_run).toBe(true);
    // Fewer than 2 mgrs.
    const s = await cephState(api, clusterId);
    await api.db
      .updateTable('sandbox_ceph')
      .set({ state: json({ ...s, mgrs: [s.mgrs[0]] }) })
      .where('cluster_id', '=', clusterId)
      .execute();
    await expectRefused({ ceph_version: 'squid' }, 'too_few_mgrs');
    await api.db
      .updateTable('sandbox_ceph')
      .set({ state: json(s) })
      .where('cluster_id', '=', clusterId)
      .execute();
    // An offline host (powered off), then a mon host offline too (out of quorum).
    const off = (n: { ipmi_address: string }) =>
      api.db
        .updateTable('sandbox_machines')
        .set({ power_state: 'off', power_changed_at: new Date() })
        .where('account_id', '=', api.account.accountId)
        .where('ipmi_address', '=', n.ipmi_address)
        .execute();
    await off(nodes[3]!);
    await expectRefused({ ceph_version: 'squid' }, 'host_offline');
    await off(nodes[2]!);
    await expectRefused({ ceph_version: 'squid' }, 'mon_out_of_quorum');
  });

  it('pause at the next safe point, resume to completion; busy cluster and nodes refuse other operations (409)', async () => {
    const c = await sandboxCluster(api, { hosts: 4 });
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    const p = await post(`/v1/operations/${id}/pause`, { reason: 'change window closes' });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.body.data.status).toBe('paused');
    expect(p.body.data.error.message).toContain('change window closes');
    // Idempotent.
    expect((await post(`/v1/operations/${id}/pause`)).status).toBe(200);
    const op = await waitForOperation(api, id, paused);
    expect(op.status).toBe('paused');
    // The row follows (lists and filters see the pause).
    await expect
      .poll(
        async () =>
          (await api.request('GET', `/v1/operations?status=paused&cluster_id=${c.clusterId}`)).body.data.map(
            (o: any) => o.id,
          ),
        { timeout: 10_000 },
      )
      .toEqual([id]);
    // Paused means stopped: nothing moves.
    const frozen = (await cephState(api, c.clusterId)).upgrade?.events.length ?? 0;
    await new Promise((r) => setTimeout(r, 500));
    expect((await cephState(api, c.clusterId)).upgrade?.events.length ?? 0).toBe(frozen);
    // Locks: the cluster and every member node.
    const again = await post(`/v1/clusters/${c.clusterId}/upgrade`, { ceph_version: 'squid' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('resource_busy');
    expect(again.body.error.operation_id).toBe(id);
    const reboot = await post(`/v1/nodes/${c.nodes[2]!.id}/reboot`, { method: 'graceful' });
    expect(reboot.status).toBe(409);
    expect(reboot.body.error.operation_id).toBe(id);
    // Resume.
    const r = await post(`/v1/operations/${id}/resume`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data.status).toBe('in_progress');
    expect((await post(`/v1/operations/${id}/cancel`, undefined)).status).toBeLessThan(500);
    const done = await waitForOperation(api, id);
    // The cancel above raced the rest of the upgrade; either way nothing is left behind.
    expect(['completed', 'cancelled']).toContain(done.status);
    await expectRestored(c, id);
  });

  it('a paused-then-resumed upgrade completes, each host once; resume of a running one is refused', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    const notPaused = await post(`/v1/operations/${id}/resume`);
    if (notPaused.status !== 409) expect(notPaused.status).toBe(200);
    await post(`/v1/operations/${id}/pause`, { reason: 'operator check' });
    await waitForOperation(api, id, paused);
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(200);
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(409);
    const op = await waitForOperation(api, id);
    expect(op.status).toBe('completed');
    expect(op.logs.map((l: any) => l.message)).toEqual(
      expect.arrayContaining([expect.stringContaining('paused: Paused by request: operator check'), 'resumed']),
    );
    const s = await cephState(api, c.clusterId);
    for (const n of c.nodes) expect(upgradedCount(s.upgrade!.events, n.hostname)).toBe(1);
    expect((await post(`/v1/operations/${id}/pause`)).status).toBe(409);
    console.log('paused-then-resumed upgrade operation:', JSON.stringify(op, null, 2));
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--paused-resumed');
  });

  it('cancel while paused restores autoscale and leaves nothing flagged', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid' });
    await post(`/v1/operations/${id}/pause`);
    await waitForOperation(api, id, paused);
    expect((await post(`/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitForOperation(api, id);
    expect(op.status).toBe('cancelled');
    await expectRestored(c, id);
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--cancelled-while-paused');
  });

  it('an OSD that does not come back auto-pauses with the reason; cancel then restores everything', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    await setMachineFaults(api.db, api.account.accountId, c.nodes[1]!.ipmi_address, ['osds_stay_down']);
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid' });
    const op = await waitForOperation(api, id, paused);
    expect(op.status).toBe('paused');
    expect(op.error.code).toBe('osds_not_up');
    expect(op.error.message).toContain(c.nodes[1]!.hostname);
    // The failed host compensated itself: noout unset.
    expect((await cephState(api, c.clusterId)).noout_hosts).toEqual([]);
    await setMachineFaults(api.db, api.account.accountId, c.nodes[1]!.ipmi_address, []);
    expect((await post(`/v1/operations/${id}/cancel`)).status).toBe(202);
    const end = await waitForOperation(api, id);
    expect(end.status).toBe('cancelled');
    await expectRestored(c, id);
    await recordHistory(
      api,
      `${op.temporal.workflow_id}/host/${c.nodes[1]!.hostname}`,
      'upgradeHostWorkflow--failed-osds-not-up',
    );
  });

  it('an OSD that does not come back: auto-pause, clear the fault, resume → the host is retried and the upgrade completes', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const host = c.nodes[2]!;
    await setMachineFaults(api.db, api.account.accountId, host.ipmi_address, ['osds_stay_down']);
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid' });
    const op = await waitForOperation(api, id, paused);
    expect(op.error.code).toBe('osds_not_up');
    // Units of work: 2 mgrs + 3 mons + 3 hosts; all but the third host done → 7/8.
    expect(op.progress).toBe(87);
    await setMachineFaults(api.db, api.account.accountId, host.ipmi_address, []);
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(200);
    const end = await waitForOperation(api, id);
    expect(end.status, JSON.stringify(end.error)).toBe('completed');
    const s = await cephState(api, c.clusterId);
    for (const n of c.nodes) expect(upgradedCount(s.upgrade!.events, n.hostname)).toBe(1);
    await expectRestored(c, id);
    await recordHistory(api, end.temporal.workflow_id, 'upgradeClusterWorkflow--auto-paused-resumed');
  });

  it('a BMC that stops answering during the reboot for OS packages: auto-pause, clear, resume → completed', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const host = c.nodes[1]!;
    await setMachineFaults(api.db, api.account.accountId, host.ipmi_address, ['bmc_unreachable']);
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', os_packages: true });
    const op = await waitForOperation(api, id, paused);
    expect(op.error.code).toBe('bmc_unreachable');
    expect(op.error.message).toContain(host.hostname);
    await setMachineFaults(api.db, api.account.accountId, host.ipmi_address, []);
    expect((await post(`/v1/operations/${id}/resume`)).status).toBe(200);
    const end = await waitForOperation(api, id);
    expect(end.status, JSON.stringify(end.error)).toBe('completed');
    await expectRestored(c, id);
    // The reboots were sent by the upgrade's per-host children: the machine's power log names the
    // upgrade operation for each command (issue 8 #17).
    const log = (await api.request('GET', `/v1/sandbox/machines/${host.id}`)).body.data.power_log;
    expect(log.map((e: any) => e.action)).toContain('soft');
    expect(log.map((e: any) => e.operation_id)).toEqual(log.map(() => id));
    await recordHistory(
      api,
      `${op.temporal.workflow_id}/host/${host.hostname}`,
      'upgradeHostWorkflow--completed-os-packages-reboot',
    );
  });

  it('HEALTH_ERR mid-upgrade pauses at the next safe point with the reason; clearing it and resuming completes', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid' });
    await post(`/v1/operations/${id}/pause`);
    await pausedAtSafePoint(id);
    await api.request('PUT', `/v1/sandbox/clusters/${c.clusterId}/faults`, { body: { faults: { health_err: true } } });
    await post(`/v1/operations/${id}/resume`);
    const op = await waitForOperation(api, id, (o) => paused(o) && o.error?.code === 'health_err');
    expect(op.status).toBe('paused');
    expect(op.error.message).toContain('HEALTH_ERR');
    await api.request('PUT', `/v1/sandbox/clusters/${c.clusterId}/faults`, { body: { faults: {} } });
    await post(`/v1/operations/${id}/resume`);
    const end = await waitForOperation(api, id);
    expect(end.status, JSON.stringify(end.error)).toBe('completed');
    await expectRestored(c, id);
  });
});

describe('upgrade compensation leaves what it did not change (issue 8 #1, #11)', () => {
  const cephOf = (c: FixtureCluster) =>
    createSandboxDriverSet(api.db, api.account.accountId).ceph({
      clusterId: c.clusterId,
      admin: {
        host: c.nodes[0]!.ip_address,
        port: 22,
        username: 'nodefoundry',
        privateKey: '',
        pinnedFingerprint: null,
      },
    });

  it('a host noout an operator set before the upgrade is still set when the upgrade completes', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const flagged = c.nodes[1]!.hostname;
    await cephOf(c).setGroupNoout(flagged);
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    const op = await waitForOperation(api, id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect((await cephState(api, c.clusterId)).noout_hosts).toEqual([flagged]);
    // Every host was still upgraded once, the flagged one included.
    const s = await cephState(api, c.clusterId);
    for (const n of c.nodes) expect(upgradedCount(s.upgrade!.events, n.hostname)).toBe(1);
  });

  it('a host noout an operator set before the upgrade is still set after the upgrade is cancelled', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const flagged = c.nodes[2]!.hostname;
    await cephOf(c).setGroupNoout(flagged);
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    // Cancelled once the OSD hosts are under way: the upgrade's catch-all clears noout on its hosts.
    await waitForOperation(api, id, (o) => o.current_step === 'upgrade_osd_hosts' || o.status !== 'in_progress');
    expect((await post(`/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitForOperation(api, id);
    expect(op.status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: unset noout on the upgrade's hosts/);
    expect((await cephState(api, c.clusterId)).noout_hosts).toEqual([flagged]);
  });

  it('an upgrade cancelled during the OS shutdown of its reboot powers the host back on once it is off: soft, on; OSDs up, nothing flagged', async () => {
    const c = await sandboxCluster(api, { hosts: 3 });
    const shutdownMs = 2_000; // below this file's 3 s power wait
    await api.db
      .updateTable('sandbox_machines')
      .set({ shutdown_delay_ms: shutdownMs })
      .where('account_id', '=', api.account.accountId)
      .where(
        'ipmi_address',
        'in',
        c.nodes.map((n) => n.ipmi_address),
      )
      .execute();
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', os_packages: true, max_concurrent: 1 });
    // The first host whose BMC accepted the soft power-off: cancel while its OS shuts down.
    let host: FixtureCluster['nodes'][number] | undefined;
    await expect
      .poll(
        async () => {
          for (const n of c.nodes) {
            if ((await listPowerEvents(api.db, api.account.accountId, n.ipmi_address)).some((e) => e.action === 'soft'))
              host = n;
          }
          return host?.hostname ?? null;
        },
        { timeout: 60_000, interval: 20 },
      )
      .not.toBeNull();
    expect((await getSandboxMachine(api.db, api.account.accountId, host!.ipmi_address))!.shutting_down).toBe(true);
    expect((await post(`/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitForOperation(api, id);
    expect(op.status).toBe('cancelled');
    const power = await listPowerEvents(api.db, api.account.accountId, host!.ipmi_address);
    expect(power.map((e) => e.action)).toEqual(['soft', 'on']);
    expect(power[1]!.at.getTime() - power[0]!.at.getTime()).toBeGreaterThanOrEqual(shutdownMs);
    const machine = (await getSandboxMachine(api.db, api.account.accountId, host!.ipmi_address))!;
    expect(machine.power_state).toBe('on');
    expect(machine.running).toBe(true);
    await expectRestored(c, id);
    const hostRun = `${op.temporal.workflow_id}/host/${host!.hostname}`;
    const child = await api.client.workflow.getHandle(hostRun).describe();
    expect(child.status.name).toBe('CANCELLED');
    await recordHistory(api, hostRun, 'upgradeHostWorkflow--cancelled-in-shutdown-powered-on');
  });
});

describe('batch size found by ok-to-stop', () => {
  it('asks ok-to-stop once per batch, however far the batch shrinks', async () => {
    // Size 3 / min_size 1 with failure domain host: ok-to-stop lets 2 hosts stop at once, so every
    // candidate batch of 4 shrinks to 2. One activity per batch answers how far (issue 14's profile:
    // trying 4, then 3, then 2 cost one round trip each).
    const c = await sandboxCluster(api, { hosts: 8, osdsPerHost: 2, replication: 3, minSize: 1 });
    const id = await startUpgrade(c.clusterId, { ceph_version: 'squid', max_concurrent: 4 });
    const op = await waitForOperation(api, id, undefined, 180_000);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.logs.map((l: any) => l.message)).toContain('ok-to-stop allows 2 of 4 hosts at once');

    const history = await api.client.workflow.getHandle(op.temporal.workflow_id).fetchHistory();
    const events = history.events ?? [];
    const okToStopAsks = events.filter((e) =>
      ['checkOkToStop', 'okToStopPrefix'].includes(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''),
    ).length;
    // Children started by one workflow task are one batch.
    let batches = 0;
    let inBatch = false;
    for (const e of events) {
      if (e.startChildWorkflowExecutionInitiatedEventAttributes) inBatch = true;
      else if (e.workflowTaskCompletedEventAttributes && inBatch) {
        batches += 1;
        inBatch = false;
      }
    }
    if (inBatch) batches += 1;
    expect(batches).toBeGreaterThanOrEqual(4);
    expect(okToStopAsks).toBe(batches);

    // And the batches really were as large as ok-to-stop allows, never larger.
    const s = await cephState(api, c.clusterId);
    let down = 0;
    let most = 0;
    for (const e of s.upgrade!.events) {
      if (e.kind === 'host_down') most = Math.max(most, ++down);
      if (e.kind === 'host_up') down--;
    }
    expect(most).toBe(2);
    expect(s.noout_hosts).toEqual([]);
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--batch-ok-to-stop-one-activity');
  }, 240_000);
});
