import { recordHistory } from '../helpers/history';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database';
import {
  createSandboxCephCluster,
  createSandboxDriverSet,
  getSandboxCephState,
  getSandboxMachine,
  listPowerEvents,
  setMachineFaults,
} from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import type { RunningWorker } from '../../worker/main';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';
import { startTestWorker } from '../helpers/worker';

/**
 * Maintenance mode (issue 13 #1): enter (ok-to-stop, noout, OSDs stopped, optionally off) and exit
 * (on, SSH, OSDs up, noout unset, clean), the exit of a host that never comes back, a cancelled
 * enter, the refusals, and the dry runs. Real API, real worker, real Temporal, real PostgreSQL,
 * sandbox machines and Ceph.
 */
let h: TestApi;
let db: Db;
let worker: RunningWorker;
let accountId: string;

beforeAll(async () => {
  h = await startTestApi();
  db = h.db;
  accountId = h.account.accountId;
  worker = await startTestWorker(h.config, db);
});

afterAll(async () => {
  await worker?.shutdown();
  await h?.close();
});

async function api(method: string, url: string, body?: unknown) {
  return h.request(method, url, body === undefined ? {} : { body });
}

async function waitForOperation(
  id: string,
  until: (op: any) => boolean = (op) => ['completed', 'failed', 'cancelled'].includes(op.status),
  timeoutMs = 90_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (until(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function registerNode(): Promise<any> {
  const r = await api('POST', '/v1/nodes', nodeBody(generateSshKey().privateKey));
  expect(r.status).toBe(202);
  expect((await waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  return (await api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
}

/** Three (or `count`) registered nodes made members of a sandbox cluster of `replication` copies. */
async function clusterOfThree(count = 3, replication = 3): Promise<{ clusterId: string; nodes: any[] }> {
  const nodes = [];
  for (let i = 0; i < count; i++) nodes.push(await registerNode());
  const clusterId = newId('cluster');
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: `mt-${clusterId.slice(-6)}`,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      admin_node_id: nodes[0].id,
    })
    .execute();
  await db
    .updateTable('nodes')
    .set({ cluster_id: clusterId, status: 'online' })
    .where(
      'id',
      'in',
      nodes.map((n) => n.id),
    )
    .execute();
  await createSandboxCephCluster(
    db,
    {
      accountId,
      clusterId,
      hosts: nodes.map((n) => ({
        hostname: n.hostname,
        ipmiAddress: n.ipmi_address,
        osdDevices: n.drives.slice(0, 2).map((d: any) => d.device),
      })),
      replication,
      minSize: 2,
      cephVersion: 'reef',
    },
    h.config.sandboxSpeed,
  );
  return { clusterId, nodes };
}

function cephOf(clusterId: string, admin: any) {
  return createSandboxDriverSet(db, accountId).ceph({
    clusterId,
    admin: { host: admin.ip_address, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
  });
}

async function hostOsds(clusterId: string, nodes: any[], target: any) {
  return (await cephOf(clusterId, nodes[0]).osds()).filter((o) => o.host === target.hostname);
}

async function nodeOf(id: string): Promise<any> {
  return (await api('GET', `/v1/nodes/${id}`)).body.data;
}

async function record(nodeId: string) {
  return db.selectFrom('node_maintenance').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
}

async function locksOf(opId: string) {
  return db.selectFrom('operation_locks').selectAll().where('operation_id', '=', opId).execute();
}

async function enter(target: any, body: Record<string, unknown>): Promise<any> {
  const r = await api('POST', `/v1/nodes/${target.id}/maintenance`, body);
  expect(r.status).toBe(202);
  return waitForOperation(r.body.data.operation_id);
}

describe('maintenance mode', () => {
  it('enter with power_off, survive a worker restart, exit: off, noout and OSDs down while in; all back after', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];

    // Dry run first: the plan, nothing changed.
    const dry = await api('POST', `/v1/nodes/${target.id}/maintenance?dry_run=true`, { power_off: true });
    expect(dry.status).toBe(200);
    expect(dry.body.data.would_run).toBe(true);
    expect(dry.body.data.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'set_noout',
      'stop_osds',
      'power_off',
      'mark_maintenance',
    ]);
    expect((await nodeOf(target.id)).status).toBe('online');
    expect(await listPowerEvents(db, accountId, target.ipmi_address)).toEqual([]);

    const op = await enter(target, { power_off: true });
    expect(op.status).toBe('completed');
    expect(op.type).toBe('maintenance.enter');
    expect(op.result).toMatchObject({ node_id: target.id, cluster_id: clusterId, noout_set: true, powered_off: true });
    const node = await nodeOf(target.id);
    expect(node.status).toBe('maintenance');
    expect(node.current_operation_id).toBeNull();
    expect(await locksOf(op.id)).toEqual([]);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([target.hostname]);
    expect((await getSandboxMachine(db, accountId, target.ipmi_address))!.power_state).toBe('off');
    expect((await hostOsds(clusterId, nodes, target)).every((o) => !o.up)).toBe(true);
    expect((await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action)).toEqual(['soft']);
    expect(await record(target.id)).toMatchObject({ noout_set: true, powered_off: true, operation_id: op.id });
    await recordHistory(h.client, op.temporal.workflow_id, 'enterMaintenanceWorkflow--power-off-completed');

    // No workflow carries maintenance: a new worker finds it exactly as it was.
    await worker.shutdown();
    worker = await startTestWorker(h.config, db);
    expect((await nodeOf(target.id)).status).toBe('maintenance');
    expect(await record(target.id)).toBeTruthy();

    const dryExit = await api('DELETE', `/v1/nodes/${target.id}/maintenance?dry_run=true`);
    expect(dryExit.status).toBe(200);
    expect(dryExit.body.data.would_run).toBe(true);
    expect(dryExit.body.data.facts).toMatchObject({ powered_off: true, noout_set_by_maintenance: true });

    const r = await api('DELETE', `/v1/nodes/${target.id}/maintenance`);
    expect(r.status).toBe(202);
    const exit = await waitForOperation(r.body.data.operation_id);
    expect(exit.status).toBe('completed');
    expect(exit.type).toBe('maintenance.exit');
    expect(exit.result).toMatchObject({ host_back: true, status: 'online', left: [] });
    expect(exit.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['preflight', 'completed'],
      ['power_on', 'completed'],
      ['wait_ssh', 'completed'],
      ['start_osds', 'completed'],
      ['wait_osds_up', 'completed'],
      ['unset_noout', 'completed'],
      ['wait_clean', 'completed'],
      ['clear_maintenance', 'completed'],
    ]);
    const after = await nodeOf(target.id);
    expect([after.status, after.status_reason, after.current_operation_id]).toEqual(['online', null, null]);
    expect(await record(target.id)).toBeUndefined();
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    expect((await getSandboxMachine(db, accountId, target.ipmi_address))!.power_state).toBe('on');
    expect((await hostOsds(clusterId, nodes, target)).every((o) => o.up)).toBe(true);
    expect(await locksOf(exit.id)).toEqual([]);
    await recordHistory(h.client, exit.temporal.workflow_id, 'exitMaintenanceWorkflow--completed');
  });

  it('while in maintenance: reboot, upgrade and a second enter are refused with clear codes; exit of a node not in maintenance too', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[2];
    const notIn = await api('DELETE', `/v1/nodes/${target.id}/maintenance`);
    expect([notIn.status, notIn.body.error?.code]).toEqual([409, 'invalid_state']);
    const dryNotIn = await api('DELETE', `/v1/nodes/${target.id}/maintenance?dry_run=true`);
    expect(dryNotIn.body.data.refusals.map((x: any) => x.code)).toEqual(['invalid_state']);

    expect((await enter(target, {})).status).toBe('completed');
    // Without power_off the machine stays on; OSDs are down and noout set.
    expect((await getSandboxMachine(db, accountId, target.ipmi_address))!.power_state).toBe('on');
    expect((await hostOsds(clusterId, nodes, target)).every((o) => !o.up)).toBe(true);

    const reboot = await api('POST', `/v1/nodes/${target.id}/reboot`, {});
    expect([reboot.status, reboot.body.error?.code]).toEqual([409, 'node_in_maintenance']);
    expect(reboot.body.error.message).toContain(`DELETE /v1/nodes/${target.id}/maintenance`);
    const dryReboot = await api('POST', `/v1/nodes/${target.id}/reboot?dry_run=true`, {});
    expect(dryReboot.body.data.refusals.map((x: any) => x.code)).toEqual(['node_in_maintenance']);
    // The admin node (NodeFoundry's way into Ceph) is never powered off in maintenance.
    const admin = await api('POST', `/v1/nodes/${nodes[0].id}/maintenance`, { power_off: true });
    expect([admin.status, admin.body.error?.code]).toEqual([409, 'invalid_state']);
    expect(admin.body.error.message).toContain('admin node');
    const again = await api('POST', `/v1/nodes/${target.id}/maintenance`, {});
    expect([again.status, again.body.error?.code]).toEqual([409, 'invalid_state']);
    const upgrade = await api('POST', `/v1/clusters/${clusterId}/upgrade`, { ceph_version: 'squid' });
    expect([upgrade.status, upgrade.body.error?.code]).toEqual([409, 'node_in_maintenance']);
    expect(upgrade.body.error.node_ids).toEqual([target.id]);
    expect((await api('GET', `/v1/operations?node_id=${target.id}&type=node.reboot`)).body.data).toEqual([]);

    const r = await api('DELETE', `/v1/nodes/${target.id}/maintenance`);
    expect(r.status).toBe(202);
    const exit = await waitForOperation(r.body.data.operation_id);
    expect(exit.status).toBe('completed');
    expect((await nodeOf(target.id)).status).toBe('online');
    expect((await hostOsds(clusterId, nodes, target)).every((o) => o.up)).toBe(true);
  });

  it('an upgrade with skip_maintenance goes around the node in maintenance: its daemons untouched, no require-osd-release, the recorded release kept, noout and maintenance stay', async () => {
    // Four hosts and four copies (min_size 2): with one host in maintenance Ceph's ok-to-stop still
    // lets one more host stop. (With 3 copies on 3 hosts it would not, and the upgrade would wait.)
    const { clusterId, nodes } = await clusterOfThree(4, 4);
    const target = nodes[2];
    expect((await enter(target, {})).status).toBe('completed');
    const versionsBefore = { ...((await getSandboxCephState(db, clusterId))!.upgrade?.versions ?? {}) };
    const osdsOfTarget = (await hostOsds(clusterId, nodes, target)).map((o) => `osd.${o.id}`);
    expect(osdsOfTarget.length).toBeGreaterThan(0);

    const dry = await api('POST', `/v1/clusters/${clusterId}/upgrade?dry_run=true`, {
      ceph_version: 'squid',
      skip_maintenance: true,
    });
    expect(dry.status).toBe(200);
    expect([dry.body.data.would_run, dry.body.data.facts.skipped_hosts]).toEqual([true, [target.hostname]]);
    const dryRefused = await api('POST', `/v1/clusters/${clusterId}/upgrade?dry_run=true`, { ceph_version: 'squid' });
    expect(dryRefused.body.data.refusals.map((x: any) => x.code)).toEqual(['node_in_maintenance']);

    const r = await api('POST', `/v1/clusters/${clusterId}/upgrade`, { ceph_version: 'squid', skip_maintenance: true });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const up = await waitForOperation(r.body.data.operation_id, undefined, 100_000);
    expect(up.status, JSON.stringify(up.error)).toBe('completed');
    expect(up.result.skipped_hosts).toEqual([target.hostname]);
    expect(up.result.require_osd_release).toBeNull();
    const logs = up.logs.map((l: any) => l.message).join('\n');
    expect(logs).toContain(`in maintenance, left as it is: ${target.hostname}`);
    expect(logs).toContain('ceph osd require-osd-release not set');
    expect(logs).not.toContain(`batch: ${target.hostname}`);
    await recordHistory(h.client, up.temporal.workflow_id, 'upgradeClusterWorkflow--skip-maintenance');
    // One host's child: its last gate waited for PGs settled, the maintenance host's OSDs down.
    await recordHistory(
      h.client,
      `${up.temporal.workflow_id}/host/${nodes[0].hostname}`,
      'upgradeHostWorkflow--maintenance-osds-down',
    );

    const state = (await getSandboxCephState(db, clusterId))!;
    const versions = state.upgrade?.versions ?? {};
    // The node in maintenance: every daemon as before; every other daemon on squid (19.x).
    for (const key of [`mon.${target.hostname}`, `mgr.${target.hostname}`, ...osdsOfTarget])
      expect(versions[key], key).toBe(versionsBefore[key]);
    const others = nodes.filter((n) => n.id !== target.id);
    const otherOsds = (await Promise.all(others.map((n) => hostOsds(clusterId, nodes, n)))).flat();
    const otherMons = others.filter((n) => state.mons.includes(n.hostname)).map((n) => `mon.${n.hostname}`);
    expect(otherMons.length).toBeGreaterThan(0);
    for (const key of [...otherMons, ...otherOsds.map((o) => `osd.${o.id}`)])
      expect(versions[key], key).toMatch(/ceph version 19\./);
    expect(state.noout_hosts).toEqual([target.hostname]);
    expect((await nodeOf(target.id)).status).toBe('maintenance');
    expect((await api('GET', `/v1/clusters/${clusterId}`)).body.data.ceph_version).toBe('reef');

    const exit = await api('DELETE', `/v1/nodes/${target.id}/maintenance`);
    expect(exit.status).toBe(202);
    expect((await waitForOperation(exit.body.data.operation_id)).status).toBe('completed');
  }, 150_000);

  it('exit while the host stays down (its BMC dead): maintenance ends, noout unset, node offline, the result says what is left', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    expect((await enter(target, { power_off: true })).status).toBe('completed');
    await setMachineFaults(db, accountId, target.ipmi_address, ['bmc_unreachable']);

    const r = await api('DELETE', `/v1/nodes/${target.id}/maintenance`);
    expect(r.status).toBe(202);
    const exit = await waitForOperation(r.body.data.operation_id);
    expect(exit.status).toBe('completed');
    expect(exit.result.host_back).toBe(false);
    expect(exit.result.status).toBe('offline');
    expect(exit.result.left.join('\n')).toMatch(/is not back \(power_on: bmc_unreachable/);
    expect(exit.result.left.join('\n')).toMatch(/osd\.\d+, osd\.\d+ down: Ceph marks them out/);
    expect(exit.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['preflight', 'completed'],
      ['power_on', 'failed'],
      ['wait_ssh', 'skipped'],
      ['start_osds', 'skipped'],
      ['wait_osds_up', 'skipped'],
      ['unset_noout', 'completed'],
      ['wait_clean', 'skipped'],
      ['clear_maintenance', 'completed'],
    ]);
    const after = await nodeOf(target.id);
    expect(after.status).toBe('offline');
    expect(after.status_reason).toMatch(/^left maintenance while down: power_on: bmc_unreachable/);
    expect(await record(target.id)).toBeUndefined();
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    expect(await locksOf(exit.id)).toEqual([]);
    await recordHistory(h.client, exit.temporal.workflow_id, 'exitMaintenanceWorkflow--host-stays-down');
    await setMachineFaults(db, accountId, target.ipmi_address, []);
  });

  it('a cancelled enter (during the power-off) undoes everything: machine on, OSDs up, noout unset, node online, no record', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    await db
      .updateTable('sandbox_machines')
      .set({ shutdown_delay_ms: 3_000 })
      .where('account_id', '=', accountId)
      .where('ipmi_address', '=', target.ipmi_address)
      .execute();
    const r = await api('POST', `/v1/nodes/${target.id}/maintenance`, { power_off: true });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await expect
      .poll(async () => (await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action), {
        timeout: 30_000,
        interval: 20,
      })
      .toEqual(['soft']);
    expect((await api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.error).toEqual({ code: 'cancelled', message: 'The operation was cancelled; its changes were undone.' });
    const logs = op.logs.map((l: any) => l.message).join('\n');
    expect(logs).toMatch(/undone: start the OSDs/);
    expect(logs).toMatch(/undone: unset noout/);
    expect((await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action)).toEqual(['soft', 'on']);
    expect((await getSandboxMachine(db, accountId, target.ipmi_address))!.power_state).toBe('on');
    expect((await hostOsds(clusterId, nodes, target)).every((o) => o.up)).toBe(true);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    expect((await nodeOf(target.id)).status).toBe('online');
    expect(await record(target.id)).toBeUndefined();
    expect(await locksOf(id)).toEqual([]);
    await recordHistory(h.client, op.temporal.workflow_id, 'enterMaintenanceWorkflow--cancelled-in-power-off');
  });

  it('a member whose OSDs are not ok to stop is refused synchronously (409 not_ok_to_stop), as the dry run says', async () => {
    const { nodes } = await clusterOfThree();
    const target = nodes[0];
    await db
      .updateTable('sandbox_machines')
      .set({ power_state: 'off', power_changed_at: new Date() })
      .where('account_id', '=', accountId)
      .where('ipmi_address', '=', nodes[2].ipmi_address)
      .execute();
    const dry = await api('POST', `/v1/nodes/${target.id}/maintenance?dry_run=true`, {});
    expect(dry.body.data.refusals.map((x: any) => x.code)).toEqual(['not_ok_to_stop']);
    const run = await api('POST', `/v1/nodes/${target.id}/maintenance`, {});
    expect([run.status, run.body.error?.code]).toEqual([409, 'not_ok_to_stop']);
    expect((await api('GET', `/v1/operations?node_id=${target.id}&type=maintenance.enter`)).body.data).toEqual([]);
    expect((await nodeOf(target.id)).status).toBe('online');
  });
});
