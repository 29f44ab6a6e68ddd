import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { createDriverRegistry } from '../../drivers';
import {
  createSandboxCephCluster,
  createSandboxDriverSet,
  getSandboxCephState,
  getSandboxMachine,
  listPowerEvents,
  setMachineFaults,
} from '../../drivers/sandbox';
import type { CephDriver } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import type { RunningWorker } from '../../worker/main';
import { settleOperationsWorkflow } from '../../workflows/settle-operations.workflow';
import { settlerScheduleId, type SettleOperationsResult } from '../../workflows/contracts';
import { testConfig } from '../helpers/config';
import { startTestWorker } from '../helpers/worker';
import type { TestApi } from '../helpers/api';
import { getOperationQuery } from '../../workflows/contracts';
import { powerOff, startHarness, type Harness } from './cluster-harness';
import { sandboxCluster } from './upgrade-fixtures';

/**
 * Workflows terminated from outside (the Temporal Web UI's Terminate, a timeout) skip their own
 * compensation. The change ledger records each change as it is made; the settler (a workflow a
 * Temporal Schedule starts) undoes what is left open, puts the request's rows back and ends the
 * operation with an error naming what it repaired. Real API + worker + Temporal + PostgreSQL with
 * the sandbox drivers.
 */
let h: Harness;

beforeAll(async () => {
  // Grace 0: an operation with no workflow is the settler's at once (the default is a minute).
  h = await startHarness({ NF_SETTLE_GRACE_MS: '0' });
});

afterAll(async () => {
  await h?.close();
});

const TERMINAL = ['completed', 'failed', 'cancelled'];
let runs = 0;

/** One settler run limited to this file's account, as the schedule starts it (which covers every account). */
async function settle(): Promise<SettleOperationsResult> {
  runs += 1;
  return h.client.workflow.execute(settleOperationsWorkflow, {
    taskQueue: h.config.temporal.taskQueue,
    workflowId: `settle-test/${h.accountId}/${runs}`,
    args: [{ accountId: h.accountId }],
  });
}

async function locksOf(operationId: string) {
  return h.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', operationId).execute();
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `count` registered nodes made members of a sandbox Ceph cluster whose backfill runs at `speed`, its OSDs recorded. */
async function cephCluster(
  count: number,
  osdsPerHost: number,
  speed: number,
): Promise<{ clusterId: string; nodes: any[]; ceph: CephDriver }> {
  const nodes = [];
  for (let i = 0; i < count; i++) nodes.push(await h.registerNode());
  const clusterId = newId('cluster');
  await h.db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: h.accountId,
      environment: 'sandbox',
      name: `settle-${clusterId.slice(-6).toLowerCase()}`,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      admin_node_id: nodes[0].id,
    })
    .execute();
  await h.db
    .updateTable('nodes')
    .set({ cluster_id: clusterId, status: 'online' })
    .where(
      'id',
      'in',
      nodes.map((n) => n.id),
    )
    .execute();
  await createSandboxCephCluster(
    h.db,
    {
      accountId: h.accountId,
      clusterId,
      hosts: nodes.map((n) => ({
        hostname: n.hostname,
        ipmiAddress: n.ipmi_address,
        osdDevices: n.drives.slice(0, osdsPerHost).map((d: any) => d.device),
      })),
      replication: 3,
      minSize: 2,
      cephVersion: 'reef',
    },
    speed,
  );
  const activities = createActivities({
    db: h.db,
    config: h.config,
    logger: createLogger('silent'),
    drivers: createDriverRegistry({ db: h.db, config: h.config }),
  });
  await activities.refreshClusterState({ clusterId });
  const ceph = createSandboxDriverSet(h.db, h.accountId).ceph({
    clusterId,
    admin: { host: nodes[0].ip_address, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
  });
  return { clusterId, nodes, ceph };
}

describe('settling terminated workflows', () => {
  it('a reboot terminated in power_off after the soft-off: machine back on, OSDs up, noout unset, lock released, the error says what was repaired', async () => {
    const { clusterId, nodes, ceph } = await cephCluster(3, 2, 0);
    const target = nodes[1];
    // The OS takes 2 s to halt after the ACPI power button: the reboot is terminated while it does.
    await h.db
      .updateTable('sandbox_machines')
      .set({ shutdown_delay_ms: 2_000 })
      .where('account_id', '=', h.accountId)
      .where('ipmi_address', '=', target.ipmi_address)
      .execute();
    const r = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful' });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const op0 = await h.waitForOperation(id, (o) => o.current_step === 'power_off');
    await until('the soft power-off', async () =>
      (await listPowerEvents(h.db, h.accountId, target.ipmi_address)).some((e) => e.action === 'soft'),
    );
    await h.client.workflow.getHandle(op0.temporal.workflow_id).terminate('terminated from the Web UI');

    // What termination leaves: noout set, the host's OSDs down, the node locked, the operation in progress.
    const left = (await getSandboxCephState(h.db, clusterId))!;
    expect(left.noout_hosts).toEqual([target.hostname]);
    const hostOsds = (await ceph.osds()).filter((o) => o.host === target.hostname);
    expect(hostOsds.length).toBe(2);
    expect(hostOsds.every((o) => !o.up)).toBe(true);
    expect(await locksOf(id)).not.toEqual([]);
    expect((await h.api('GET', `/v1/operations/${id}`)).body.data.status).toBe('in_progress');
    // The soft-off completes after the workflow is gone: the machine would stay off.
    await until(
      'the machine to go off',
      async () => (await getSandboxMachine(h.db, h.accountId, target.ipmi_address))!.power_state === 'off',
    );

    const result = await settle();
    await h.recordHistory(`settle-test/${h.accountId}/${runs}`, 'settleOperationsWorkflow--settled-terminated-reboot');

    const m = (await getSandboxMachine(h.db, h.accountId, target.ipmi_address))!;
    expect(m.power_state).toBe('on');
    expect((await listPowerEvents(h.db, h.accountId, target.ipmi_address)).map((e) => e.action)).toEqual([
      'soft',
      'on',
    ]);
    const after = (await getSandboxCephState(h.db, clusterId))!;
    expect(after.noout_hosts).toEqual([]);
    expect((await ceph.osds()).every((o) => o.up)).toBe(true);
    expect(await locksOf(id)).toEqual([]);
    expect(result.settled).toContain(id);

    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(op.error.message).toMatch(/ended as TERMINATED/);
    expect(op.error.message).toContain(`powered ${target.hostname} back on`);
    expect(op.error.message).toContain(`unset noout on ${target.hostname}`);
    expect(op.error.message).toMatch(/started osd\.\d+, osd\.\d+ on/);
    expect(op.error.message).toContain('Nothing is left for an operator.');
    expect(op.steps.find((s: any) => s.name === 'power_off').status).toBe('failed');
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/settler: repaired: powered .* back on/);
    const ledger = await h.db
      .selectFrom('operation_changes')
      .select(['kind', 'state'])
      .where('operation_id', '=', id)
      .orderBy('id')
      .execute();
    expect(ledger).toEqual([
      { kind: 'noout_host', state: 'undone' },
      { kind: 'osds_stopped', state: 'undone' },
      { kind: 'power_off_sent', state: 'undone' },
    ]);

    // The node is usable again at once: the next reboot is accepted and completes.
    await h.db
      .updateTable('sandbox_machines')
      .set({ shutdown_delay_ms: 0 })
      .where('account_id', '=', h.accountId)
      .where('ipmi_address', '=', target.ipmi_address)
      .execute();
    const again = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful' });
    expect(again.status).toBe(202);
    expect((await h.waitForOperation(again.body.data.operation_id)).status).toBe('completed');
  });

  it('a terminated reboot whose BMC then dies: noout is still unset, and the error says to power the machine on by hand', async () => {
    const { clusterId, nodes } = await cephCluster(3, 1, 0);
    const target = nodes[2];
    await h.db
      .updateTable('sandbox_machines')
      .set({ shutdown_delay_ms: 1_000 })
      .where('account_id', '=', h.accountId)
      .where('ipmi_address', '=', target.ipmi_address)
      .execute();
    const r = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful' });
    const id = r.body.data.operation_id;
    const running = await h.waitForOperation(id, (o) => o.current_step === 'power_off');
    await until('the soft power-off', async () =>
      (await listPowerEvents(h.db, h.accountId, target.ipmi_address)).some((e) => e.action === 'soft'),
    );
    await h.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
    await setMachineFaults(h.db, h.accountId, target.ipmi_address, { bmc_unreachable: true });

    const started = Date.now();
    await settle();
    // A dead BMC does not hold up the rest: no OSD wait on a host that may be off.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect((await getSandboxCephState(h.db, clusterId))!.noout_hosts).toEqual([]);
    expect(await locksOf(id)).toEqual([]);
    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(op.error.message).toContain(`unset noout on ${target.hostname}`);
    expect(op.error.message).toContain(`Left for an operator: powering ${target.hostname} back on failed`);
    expect(op.error.message).toContain(
      `Power ${target.hostname} on by hand (ipmitool chassis power on) once its BMC answers`,
    );
    expect(op.error.message).toMatch(/stay down while it is off/);
    const ledger = await h.db
      .selectFrom('operation_changes')
      .select(['kind', 'state'])
      .where('operation_id', '=', id)
      .orderBy('id')
      .execute();
    expect(ledger).toEqual([
      { kind: 'noout_host', state: 'undone' },
      { kind: 'osds_stopped', state: 'left' },
      { kind: 'power_off_sent', state: 'left' },
    ]);
    await setMachineFaults(h.db, h.accountId, target.ipmi_address, {});
  });

  it('a drain terminated at weight 0: the original CRUSH weight, recorded before the change, is restored', async () => {
    const { clusterId } = await cephCluster(4, 2, 3);
    const weightOf = async (osdId: number) =>
      (await getSandboxCephState(h.db, clusterId))!.osds.find((o: any) => o.id === osdId)!.crush_weight;
    const original = await weightOf(1);
    expect(original).toBeGreaterThan(0);
    const r = await h.api('POST', `/v1/clusters/${clusterId}/osds/1/reweight`, { weight: 0 });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const running = await h.waitForOperation(id, (o) => o.current_step === 'wait_drain');
    expect(await weightOf(1)).toBe(0);
    await h.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');

    const result = await settle();
    expect(await weightOf(1)).toBe(original);
    expect(await locksOf(id)).toEqual([]);
    expect(result.settled).toContain(id);
    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(op.error.message).toContain(`restored the CRUSH weight of osd.1 to ${original}`);
    // The recorded OSD row shows the weight again.
    const row = (await h.api('GET', `/v1/clusters/${clusterId}/osds`)).body.data.find((o: any) => o.osd_id === 1);
    expect(row.crush_weight).toBe(original);
  });

  it('a cluster creation terminated before bootstrap: cluster ERROR, nodes released to ready, the machine it powered on off again', async () => {
    const ns = [await h.registerNode(), await h.registerNode(), await h.registerNode()];
    await powerOff(h.db, h.accountId, ns[0].ipmi_address);
    await setMachineFaults(h.db, h.accountId, ns[0].ipmi_address, { no_boot: true });
    const c = await h.api('POST', '/v1/clusters', {
      name: `settle-create-${ns[0].id.slice(-5).toLowerCase()}`,
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect(c.status).toBe(202);
    const id = c.body.data.operation_id;
    const running = await h.waitForOperation(id, (o) => o.current_step === 'wait_ssh');
    await h.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
    expect((await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data.status).toBe('CREATING');

    const result = await settle();
    const cluster = (await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data;
    expect(cluster).toMatchObject({ status: 'ERROR', current_operation_id: null });
    expect(cluster.status_reason).toMatch(/nothing was installed, the nodes were released/);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'ready',
        cluster_id: null,
        current_operation_id: null,
      });
    expect((await listPowerEvents(h.db, h.accountId, ns[0].ipmi_address)).map((e) => e.action)).toEqual(['on', 'off']);
    expect(await locksOf(id)).toEqual([]);
    expect(result.settled).toContain(id);
    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.message).toContain('cluster ERROR, nodes released to ready');
    await setMachineFaults(h.db, h.accountId, ns[0].ipmi_address, {});
  });

  it('an upgrade terminated while a host child is mid-way: the child is stopped too, its OSDs started, noout unset, autoscaling unfrozen', async () => {
    const c = await sandboxCluster(
      { db: h.db, config: h.config, account: { accountId: h.accountId } } as unknown as TestApi,
      { hosts: 3 },
    );
    const host = c.nodes[1]!;
    // The host's OSDs do not come back after their restart: its child waits in wait_osds_up.
    await setMachineFaults(h.db, h.accountId, host.ipmi_address, ['osds_stay_down']);
    const r = await h.api('POST', `/v1/clusters/${c.clusterId}/upgrade`, { ceph_version: 'squid', max_concurrent: 1 });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const parent = (await h.api('GET', `/v1/operations/${id}`)).body.data.temporal.workflow_id as string;
    const child = h.client.workflow.getHandle(`${parent}/host/${host.hostname}`);
    await until('the host child to wait for its OSDs', async () => {
      try {
        return (await child.query(getOperationQuery)).current_step === 'wait_osds_up';
      } catch {
        return false;
      }
    });
    await h.client.workflow.getHandle(parent).terminate('terminated from the Web UI');
    const left = (await getSandboxCephState(h.db, c.clusterId))!;
    expect(left.noout_hosts).toEqual([host.hostname]);
    expect(left.upgrade?.noautoscale).toBe(true);
    // The cause is fixed; nobody restarts the OSDs until the settler does.
    await setMachineFaults(h.db, h.accountId, host.ipmi_address, []);

    const result = await settle();
    expect((await child.describe()).status.name).toBe('TERMINATED');
    const after = (await getSandboxCephState(h.db, c.clusterId))!;
    expect(after.noout_hosts).toEqual([]);
    expect(after.upgrade?.noautoscale ?? false).toBe(false);
    expect(after.osds.filter((o) => o.stopped_at !== null).map((o) => o.id)).toEqual([]);
    expect(await locksOf(id)).toEqual([]);
    expect(result.settled).toContain(id);
    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.message).toContain(`unset noout on ${host.hostname}`);
    expect(op.error.message).toContain('unfroze PG autoscaling');
    // The child's changes were recorded against the upgrade's operation.
    const ledger = await h.db
      .selectFrom('operation_changes')
      .select(['kind', 'workflow_id', 'state'])
      .where('operation_id', '=', id)
      .execute();
    expect(
      ledger
        .filter((e) => e.workflow_id === child.workflowId)
        .map((e) => e.kind)
        .sort(),
    ).toEqual(['noout_host', 'osds_stopped']);
    expect(ledger.every((e) => e.state === 'undone')).toBe(true);
  });

  it('an operation whose workflow never started does not stay pending: failed, its lock released, the node usable again', async () => {
    const node = await h.registerNode();
    // As if the API died between committing the operation (and its lock) and starting the workflow.
    const id = newId('operation');
    await h.db
      .insertInto('operations')
      .values({
        id,
        account_id: h.accountId,
        environment: 'sandbox',
        type: 'node.reboot',
        status: 'pending',
        node_id: node.id,
        request_id: 'req_lost',
        workflow_id: `${node.id}/reboot/${id}`,
        params: '{}',
      })
      .execute();
    await h.db.insertInto('operation_locks').values({ resource_id: node.id, operation_id: id }).execute();

    const result = await settle();
    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('not_started');
    expect(op.error.message).toMatch(/never started\); nothing was changed/);
    expect(result.settled).toContain(id);
    expect(await locksOf(id)).toEqual([]);
    expect((await h.api('POST', `/v1/nodes/${node.id}/reboot`, { method: 'hard' })).status).toBe(202);
  });

  it("an operation whose workflow never started forgets its Idempotency-Key: the same key is accepted again, as after the API's own start failure", async () => {
    const node = await h.registerNode();
    const id = newId('operation');
    const key = `k-never-${id.slice(-8)}`;
    // As if the API died after binding the request's key to the operation, before starting the workflow.
    await h.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('operations')
        .values({
          id,
          account_id: h.accountId,
          environment: 'sandbox',
          type: 'node.reboot',
          status: 'pending',
          node_id: node.id,
          request_id: 'req_lost',
          workflow_id: `${node.id}/reboot/${id}`,
          params: '{}',
        })
        .execute();
      await trx.insertInto('operation_locks').values({ resource_id: node.id, operation_id: id }).execute();
      await trx
        .insertInto('idempotency_keys')
        .values({ account_id: h.accountId, key, request_hash: 'lost-request', state: 'in_progress', operation_id: id })
        .execute();
    });

    const result = await settle();
    expect(result.settled).toContain(id);
    expect((await h.api('GET', `/v1/operations/${id}`)).body.data).toMatchObject({
      status: 'failed',
      error: { code: 'not_started' },
    });
    const again = await h.api('POST', `/v1/nodes/${node.id}/reboot`, { method: 'hard' }, { 'idempotency-key': key });
    expect(again.status).toBe(202);
    expect(again.body.data.operation_id).not.toBe(id);
    await h.waitForOperation(again.body.data.operation_id);
  });

  it('a cluster creation whose workflow never started: its CREATING row removed and the nodes free, so the same request is accepted again', async () => {
    const ns = [await h.registerNode(), await h.registerNode(), await h.registerNode()];
    const clusterId = newId('cluster');
    const name = `never-${clusterId.slice(-5).toLowerCase()}`;
    const id = newId('operation');
    // What the API's transaction wrote before it died: operation, locks, cluster row, claimed nodes.
    await h.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('operations')
        .values({
          id,
          account_id: h.accountId,
          environment: 'sandbox',
          type: 'cluster.create',
          status: 'pending',
          cluster_id: clusterId,
          request_id: 'req_lost',
          workflow_id: `${clusterId}/create/${id}`,
          params: JSON.stringify({ name, node_ids: ns.map((n) => n.id) }),
        })
        .execute();
      await trx
        .insertInto('clusters')
        .values({
          id: clusterId,
          account_id: h.accountId,
          environment: 'sandbox',
          name,
          status: 'CREATING',
          ceph_version: 'reef',
          admin_node_id: ns[0].id,
        })
        .execute();
      await trx
        .updateTable('nodes')
        .set({ cluster_id: clusterId })
        .where(
          'id',
          'in',
          ns.map((n) => n.id),
        )
        .execute();
      await trx
        .insertInto('operation_locks')
        .values([clusterId, ...ns.map((n) => n.id)].map((resource_id) => ({ resource_id, operation_id: id })))
        .execute();
    });
    const retry = { name, node_ids: ns.map((n) => n.id), ceph_version: 'reef' };
    expect((await h.api('POST', '/v1/clusters?dry_run=true', retry)).body.data?.would_run ?? false).toBe(false);

    await settle();
    expect(
      await h.db.selectFrom('clusters').select('id').where('id', '=', clusterId).executeTakeFirst(),
    ).toBeUndefined();
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'ready',
        cluster_id: null,
        current_operation_id: null,
      });
    const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
    expect(op).toMatchObject({ status: 'failed', error: { code: 'not_started' } });
    expect((await h.api('POST', '/v1/clusters?dry_run=true', retry)).body.data.would_run).toBe(true);
  });

  it('a completed operation is never touched, nor a running one', async () => {
    const { nodes } = await cephCluster(3, 1, 0);
    const r = await h.api('POST', `/v1/nodes/${nodes[0].id}/reboot`, { method: 'graceful' });
    const done = await h.waitForOperation(r.body.data.operation_id);
    expect(done.status).toBe('completed');
    const before = await h.db.selectFrom('operations').selectAll().where('id', '=', done.id).executeTakeFirstOrThrow();
    // Every change the reboot made was undone by the reboot itself: nothing is left open.
    const ledger = await h.db
      .selectFrom('operation_changes')
      .select(['kind', 'state'])
      .where('operation_id', '=', done.id)
      .execute();
    expect(ledger.length).toBe(3);
    expect(ledger.every((c) => c.state === 'undone')).toBe(true);

    // A running reboot (the OS ignores the soft-off) is left alone too.
    await setMachineFaults(h.db, h.accountId, nodes[1].ipmi_address, { soft_off_ignored: true });
    const slow = await h.api('POST', `/v1/nodes/${nodes[1].id}/reboot`, { method: 'graceful' });
    await h.waitForOperation(slow.body.data.operation_id, (o) => o.current_step === 'power_off');

    const result = await settle();
    expect(result.settled).not.toContain(done.id);
    expect(result.settled).not.toContain(slow.body.data.operation_id);
    const after = await h.db.selectFrom('operations').selectAll().where('id', '=', done.id).executeTakeFirstOrThrow();
    expect(after).toEqual(before);
    expect((await h.api('GET', `/v1/operations/${slow.body.data.operation_id}`)).body.data.status).toBe('in_progress');
    expect((await h.api('POST', `/v1/operations/${slow.body.data.operation_id}/cancel`)).status).toBe(202);
    expect(TERMINAL).toContain((await h.waitForOperation(slow.body.data.operation_id)).status);
    await setMachineFaults(h.db, h.accountId, nodes[1].ipmi_address, {});
  });

  it('a request meeting the lock of a terminated reboot whose changes are still open is refused (409) until the settler repaired them', async () => {
    const { clusterId, nodes } = await cephCluster(3, 1, 0);
    const target = nodes[0];
    await setMachineFaults(h.db, h.accountId, target.ipmi_address, { soft_off_ignored: true });
    const r = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful' });
    const id = r.body.data.operation_id;
    const running = await h.waitForOperation(id, (o) => o.current_step === 'power_off');
    await h.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
    await setMachineFaults(h.db, h.accountId, target.ipmi_address, {});

    // Releasing the lock here would start a new reboot on a host whose noout and stopped OSDs nobody owns.
    const busy = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'hard' });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'resource_busy', operation_id: id });
    expect((await getSandboxCephState(h.db, clusterId))!.noout_hosts).toEqual([target.hostname]);

    await settle();
    expect((await getSandboxCephState(h.db, clusterId))!.noout_hosts).toEqual([]);
    const next = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'hard' });
    expect(next.status).toBe(202);
    expect((await h.waitForOperation(next.body.data.operation_id)).status).toBe('completed');
  });

  it('the worker ensures the settler Schedule; a scheduled run settles a terminated operation of any task queue', async () => {
    const { clusterId, nodes } = await cephCluster(3, 1, 0);
    await setMachineFaults(h.db, h.accountId, nodes[2].ipmi_address, { soft_off_ignored: true });
    const r = await h.api('POST', `/v1/nodes/${nodes[2].id}/reboot`, { method: 'graceful' });
    const id = r.body.data.operation_id;
    const running = await h.waitForOperation(id, (o) => o.current_step === 'power_off');
    await h.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
    expect((await getSandboxCephState(h.db, clusterId))!.noout_hosts).toEqual([nodes[2].hostname]);

    // A worker of its own task queue, configured as in production (hourly here, triggered by hand below).
    const config = testConfig({ NF_SETTLE_INTERVAL_MS: '3600000', NF_SECRET_KEY: h.config.secretKey.toString('hex') });
    const scheduleId = settlerScheduleId(config.temporal.taskQueue);
    let settlerWorker: RunningWorker | undefined;
    try {
      settlerWorker = await startTestWorker(config, h.db);
      const schedule = h.client.schedule.getHandle(scheduleId);
      const desc = await schedule.describe();
      expect(desc.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'settleOperationsWorkflow',
        taskQueue: config.temporal.taskQueue,
      });
      expect(desc.spec.intervals?.[0]?.every).toBe(3_600_000);
      await schedule.trigger();
      await until(
        'the scheduled settler to end the operation',
        async () => {
          const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
          return TERMINAL.includes(op.status) ? op : undefined;
        },
        60_000,
      );
      const op = (await h.api('GET', `/v1/operations/${id}`)).body.data;
      expect(op.error.code).toBe('workflow_closed');
      expect(op.error.message).toContain(`unset noout on ${nodes[2].hostname}`);
      expect((await getSandboxCephState(h.db, clusterId))!.noout_hosts).toEqual([]);
      expect(await locksOf(id)).toEqual([]);
      // A second worker start finds the schedule and keeps it (idempotent).
      const { ensureSettlerSchedule } = await import('../../worker/settler-schedule');
      expect(await ensureSettlerSchedule(h.client, config, createLogger('silent'))).toBe('updated');
    } finally {
      await h.client.schedule
        .getHandle(scheduleId)
        .delete()
        .catch(() => undefined);
      await settlerWorker?.shutdown();
      await setMachineFaults(h.db, h.accountId, nodes[2].ipmi_address, {});
    }
  });
});
