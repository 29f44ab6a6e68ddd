import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getSandboxCephState,
  getSandboxMachine,
  listPowerEvents,
  moveSandboxOsd,
  setMachineFaults,
} from '../../drivers/sandbox';
import { powerOff, startHarness, type Harness } from './cluster-harness';

/**
 * Cluster creation and deletion through the HTTP API with a sandbox key, a real worker, Temporal
 * and PostgreSQL. Ceph waits are bounded at 4 s so that the failure cases end quickly.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ NF_WAIT_CEPH_MS: '4000', NF_WAIT_SSH_MS: '4000' });
});
afterAll(async () => {
  await h?.close();
});

const locksOf = (operationId: string) =>
  h.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', operationId).execute();

async function nodes(n: number, options: Parameters<Harness['registerNode']>[0] = {}) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await h.registerNode(options));
  return out;
}

async function deleteCluster(id: string) {
  const r = await h.api('DELETE', `/v1/clusters/${id}`, undefined, { 'x-confirm-delete': 'true' });
  expect(r.status).toBe(202);
  return h.waitForOperation(r.body.data.operation_id);
}

describe('create cluster', () => {
  let created: { id: string; nodes: any[]; operation: any };

  it('dry run: the plan places mons/mgrs and lists OSD devices (failed-SMART drives left out); nothing changes', async () => {
    const ns = [await h.registerNode({ failDrive: true }), ...(await nodes(3))];
    const body = { name: 'prod-01', node_ids: ns.map((n) => n.id), ceph_version: 'reef' };
    const r = await h.api('POST', '/v1/clusters?dry_run=true', body);
    expect(r.status).toBe(200);
    const plan = r.body.data;
    expect(plan.would_run).toBe(true);
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'mark_provisioning',
      'power_on',
      'wait_ssh',
      'bootstrap',
      'add_hosts',
      'place_mons',
      'place_mgrs',
      'create_osds',
      'create_crush_rule',
      'wait_ready',
      'record_state',
    ]);
    // The plan says what the (default) package deployer runs, not cephadm's commands.
    const described = Object.fromEntries(plan.steps.map((s: any) => [s.name, s.description]));
    expect(described.bootstrap).toMatch(/^Ceph packages verified or installed, ceph-mon --mkfs \(reef\)/);
    expect(described.create_osds).toMatch(/^ceph-volume raw prepare\/activate on/);
    expect(JSON.stringify(described)).not.toMatch(/cephadm|ceph orch/);
    const withCephadm = (await h.api('POST', '/v1/clusters?dry_run=true', { ...body, deployment: 'cephadm' })).body
      .data;
    expect(withCephadm.steps.find((s: any) => s.name === 'bootstrap').description).toMatch(
      /^cephadm bootstrap \(reef\)/,
    );
    expect(plan.facts.mons).toEqual(ns.slice(0, 3).map((n) => n.hostname));
    expect(plan.facts.mgrs).toEqual(ns.slice(0, 2).map((n) => n.hostname));
    const failed = ns[0].drives[ns[0].drives.length - 1];
    expect(failed.smart_ok).toBe(false);
    expect(plan.facts.osd_devices[ns[0].hostname]).not.toContain(failed.device);
    expect(plan.facts.skipped_devices[ns[0].hostname]).toEqual([failed.device]);
    expect((await h.api('GET', '/v1/clusters')).body.meta.total).toBe(0);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({ status: 'ready', cluster_id: null });

    // The real run: one node is off and gets powered on.
    await powerOff(h.db, h.accountId, ns[3].ipmi_address);
    const c = await h.api('POST', '/v1/clusters', body);
    expect(c.status).toBe(202);
    expect(c.body.data).toMatchObject({ name: 'prod-01', status: 'CREATING' });
    expect(c.body.data.id).toMatch(/^clus_/);
    const during = (await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data;
    expect(['CREATING', 'HEALTH_OK']).toContain(during.status);
    const op = await h.waitForOperation(c.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.type).toBe('cluster.create');
    expect(op.steps.every((s: any) => s.status === 'completed')).toBe(true);
    created = { id: c.body.data.id, nodes: ns, operation: op };
    await h.recordHistory(op.temporal.workflow_id, 'createClusterWorkflow--completed');
  });

  it('the created cluster is HEALTH_OK, nodes online, OSDs only on SMART-healthy drives, 3 mons and 2 mgrs placed, host CRUSH rule', async () => {
    const { id, nodes: ns, operation: op } = created;
    const cluster = (await h.api('GET', `/v1/clusters/${id}`)).body.data;
    const healthy = ns
      .flatMap((n) => n.drives.filter((d: any) => d.smart_ok).map((d: any) => `${n.hostname}:${d.device}`))
      .sort();
    expect(cluster).toMatchObject({
      name: 'prod-01',
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      // Issue 12 #4: the point version in its own field, read from `ceph versions` at the end.
      ceph_point_version: expect.stringMatching(/^18\.2\.\d+$/),
      node_count: 4,
      osd_count: healthy.length,
      failure_domain: 'host',
      replication_factor: 3,
      // Issue 10: the package deployer unless asked otherwise, and the operation says what it ran.
      deployment: 'packages',
    });
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain('reef, packages deployer');
    expect(cluster.current_operation_id).toBeNull();
    expect(cluster.raw_capacity_tib).toBeGreaterThan(0);
    expect(cluster.nodes.map((n: any) => n.status)).toEqual(['online', 'online', 'online', 'online']);
    expect(cluster.capacity.osds_up).toBe(healthy.length);

    const osds = await h.db.selectFrom('osds').selectAll().where('cluster_id', '=', id).execute();
    expect(osds.map((o) => `${o.host}:${o.device}`).sort()).toEqual(healthy);
    expect(osds.every((o) => o.status === 'up' && o.in)).toBe(true);
    // What the API shows (issue 8 #15: weight 0 and capacity_gb 0 after a create): every OSD at full
    // weight, in, with its device's size.
    const shown = (await h.api('GET', `/v1/clusters/${id}/osds?per_page=100`)).body.data;
    expect(shown).toHaveLength(healthy.length);
    for (const o of shown) {
      expect(o.crush_weight).toBeGreaterThan(0);
      expect(o).toMatchObject({
        status: 'up',
        in: true,
        weight: 1,
        reweight: 1,
        capacity_gb: Math.round((o.crush_weight * 2 ** 40) / 1e9),
      });
    }

    const state = (await getSandboxCephState(h.db, id))!;
    expect(state.mons).toEqual(ns.slice(0, 3).map((n) => n.hostname));
    expect(state.mgrs).toEqual(ns.slice(0, 2).map((n) => n.hostname));
    expect(state.hosts.map((x) => x.hostname)).toEqual(ns.map((n) => n.hostname));
    expect(state.crush_rules?.find((r) => r.name === 'nf-replicated-host')?.failure_domain).toBe('host');
    expect(op.result.osds.length).toBe(healthy.length);

    // The node that was off was powered on once; the others got no chassis command.
    expect((await listPowerEvents(h.db, h.accountId, ns[3].ipmi_address)).map((e) => e.action)).toEqual(['on']);
    // The machine's power log names the operation that sent each command (issue 8 #17).
    const machine = (await h.api('GET', `/v1/sandbox/machines/${ns[3].id}`)).body.data;
    expect(machine.power_log.map((e: any) => [e.action, e.operation_id])).toEqual([['on', op.id]]);
    expect(await listPowerEvents(h.db, h.accountId, ns[0].ipmi_address)).toEqual([]);
    expect(await locksOf(op.id)).toEqual([]);

    const list = await h.api('GET', '/v1/clusters?status=HEALTH_OK');
    expect(list.body.data.map((c: any) => c.id)).toContain(id);
    expect(list.body.data[0]).toMatchObject({ id, node_count: 4, osd_count: healthy.length });
    expect((await h.api('GET', '/v1/clusters?status=HEALTH_ERR')).body.data).toEqual([]);
  });

  it('preflight refusals: unknown node 404, held 409, in another cluster 409, not ready 409, too few failure domains 409, name taken 409, bad bodies 400', async () => {
    const [a, b, c] = await nodes(3);
    const ids = [a.id, b.id, c.id];
    const post = (body: Record<string, unknown>) =>
      h.api('POST', '/v1/clusters', { name: 'refused', ceph_version: 'reef', node_ids: ids, ...body });

    let r = await post({ node_ids: [a.id, b.id, 'node_01jzzzzzzzzzzzzzzzzzzzzzzz'] });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([404, 'node_not_found', 'node_ids']);

    r = await post({ node_ids: [a.id, b.id, created.nodes[0].id] });
    expect([r.status, r.body.error.code]).toEqual([409, 'node_in_cluster']);

    r = await post({ replication_factor: 4 });
    expect([r.status, r.body.error.code]).toEqual([409, 'insufficient_failure_domains']);

    r = await post({ failure_domain: 'rack' });
    expect([r.status, r.body.error.code]).toEqual([409, 'insufficient_failure_domains']);
    expect(r.body.error.message).toMatch(/no rack label/);

    r = await post({ name: 'prod-01' });
    expect([r.status, r.body.error.code]).toEqual([409, 'name_taken']);

    expect((await h.api('PATCH', `/v1/nodes/${b.id}`, { state: 'hold' })).status).toBe(200);
    r = await post({});
    expect([r.status, r.body.error.code]).toEqual([409, 'node_held']);
    // The dry run says the same, without changing anything.
    const dry = await h.api('POST', '/v1/clusters?dry_run=true', {
      name: 'refused',
      ceph_version: 'reef',
      node_ids: ids,
    });
    expect(dry.status).toBe(200);
    expect(dry.body.data.would_run).toBe(false);
    expect(dry.body.data.refusals.map((x: any) => x.code)).toEqual(['node_held']);
    await h.api('PATCH', `/v1/nodes/${b.id}`, { state: 'ready' });

    await h.db.updateTable('nodes').set({ status: 'pending' }).where('id', '=', c.id).execute();
    r = await post({});
    expect([r.status, r.body.error.code]).toEqual([409, 'invalid_state']);
    await h.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', c.id).execute();

    for (const [body, field] of [
      [{ node_ids: [a.id, b.id] }, 'node_ids'],
      [{ node_ids: [a.id, a.id, b.id] }, 'node_ids'],
      [{ name: 'Bad_Name' }, 'name'],
      [{ ceph_version: 'quincy' }, 'ceph_version'],
      [{ failure_domain: 'row' }, 'failure_domain'],
      [{ deployment: 'ansible' }, 'deployment'],
      [{ extra: 1 }, 'extra'],
    ] as const) {
      r = await post(body);
      expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', field]);
    }
    // Nothing was claimed by any refusal.
    for (const n of [a, b, c])
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'ready',
        cluster_id: null,
        current_operation_id: null,
      });
    expect((await h.api('GET', '/v1/clusters')).body.meta.total).toBe(1);
  });

  it('rack failure domain: hosts placed under their racks, mons spread across racks, rule across racks', async () => {
    const ns = [
      await h.registerNode({ rack: 'r1' }),
      await h.registerNode({ rack: 'r1' }),
      await h.registerNode({ rack: 'r2' }),
      await h.registerNode({ rack: 'r3' }),
    ];
    const c = await h.api('POST', '/v1/clusters', {
      name: 'racks',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'squid',
      failure_domain: 'rack',
      deployment: 'cephadm',
    });
    expect(c.status).toBe(202);
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    // The sandbox records the deployer and behaves the same for both.
    expect((await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data.deployment).toBe('cephadm');
    const state = (await getSandboxCephState(h.db, c.body.data.id))!;
    // Round-robin over racks: r1, r2, r3 first, never two mons in r1 while r2 and r3 have none.
    expect(state.mons).toEqual([ns[0].hostname, ns[2].hostname, ns[3].hostname]);
    expect(state.hosts.map((x) => x.rack)).toEqual(['r1', 'r1', 'r2', 'r3']);
    const rackRule = state.crush_rules?.find((r) => r.name === 'nf-replicated-rack');
    expect(rackRule?.failure_domain).toBe('rack');
    // The bootstrap's .mgr pool follows the cluster's rule: one rack down cannot make it inactive.
    expect(state.pools?.find((p) => p.name === '.mgr')?.crush_rule_id).toBe(rackRule!.id);
    expect((await deleteCluster(c.body.data.id)).status).toBe('completed');
  });
});

describe('delete cluster: only what Ceph attributes to an OSD on each host is wiped', () => {
  /** A 4-node cluster, then an OSD id of host a moved to a spare drive of host b (as if destroyed and recreated there). */
  async function clusterWithMovedOsd(name: string) {
    // The last drive of each node failed SMART: no OSD is made on it, so it can take the moved OSD.
    const ns: any[] = [];
    for (let i = 0; i < 4; i++) ns.push(await h.registerNode({ failDrive: true }));
    const c = await h.api('POST', '/v1/clusters', { name, node_ids: ns.map((n) => n.id), ceph_version: 'reef' });
    expect(c.status).toBe(202);
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    const id: string = c.body.data.id;
    // An OSD on host a whose device name also holds one of host b's own OSDs: wiping "the moved
    // OSD's recorded device on its new host" would destroy that disk of b.
    const created = (await getSandboxCephState(h.db, id))!;
    const pairs = ns.flatMap((a) =>
      ns
        .filter((b) => b !== a)
        .flatMap((b) =>
          created.osds
            .filter(
              (o) => o.host === a.hostname && created.osds.some((p) => p.host === b.hostname && p.device === o.device),
            )
            .map((moved) => ({ a, b, moved })),
        ),
    );
    expect(pairs.length).toBeGreaterThan(0);
    const { a, b, moved } = pairs[0]!;
    const spare: string = b.drives[b.drives.length - 1].device;
    await moveSandboxOsd(h.db, id, moved.id, { host: b.hostname, device: spare });
    return { id, ns, a, b, moved, spare };
  }

  /** Deletes the cluster and checks each machine's device log against what Ceph attributed there. */
  async function deleteAndCheckWipes(id: string, ns: any[]) {
    const ceph = (await getSandboxCephState(h.db, id))!;
    const attributed = (host: string) =>
      ceph.osds
        .filter((o) => o.host === host)
        .map((o) => o.device)
        .sort();
    const del = await deleteCluster(id);
    expect(del.status).toBe('completed');
    for (const n of ns) {
      const log = (await h.api('GET', `/v1/sandbox/machines/${n.id}`)).body.data.device_log;
      expect(log.map((e: any) => e.device).sort(), n.hostname).toEqual(attributed(n.hostname));
      for (const e of log) expect(e).toMatchObject({ action: 'zap', cluster_id: id, operation_id: del.id });
    }
    return { del, attributed };
  }

  it('an OSD id moved to another host: the refreshed record follows it; the delete wipes its new device there, never its old device name on the new host', async () => {
    const { id, ns, a, b, moved, spare } = await clusterWithMovedOsd('moved-osd');
    // Any cluster operation refreshes the record from Ceph: host and device follow the OSD.
    const pool = await h.api('POST', `/v1/clusters/${id}/pools`, {
      name: 'after-move',
      type: 'replicated',
      application: 'rbd',
    });
    expect(pool.status).toBe(202);
    expect((await h.waitForOperation(pool.body.data.operation_id)).status).toBe('completed');
    const shown = (await h.api('GET', `/v1/clusters/${id}/osds?per_page=100`)).body.data.find(
      (o: any) => o.osd_id === moved.id,
    );
    expect(shown).toMatchObject({ host: b.hostname, node_id: b.id, device: spare });

    const { del, attributed } = await deleteAndCheckWipes(id, ns);
    expect(attributed(b.hostname)).toContain(spare);
    expect(attributed(a.hostname)).not.toContain(moved.device);
    expect(del.logs.map((l: any) => l.message).join('\n')).toContain(
      `${b.hostname}: ${attributed(b.hostname).join(', ')}`,
    );
  });

  it('moved with no refresh since (the record still names the old host and device): the delete wipes by Ceph, not by the record', async () => {
    const { id, ns, a, moved, spare, b } = await clusterWithMovedOsd('moved-stale');
    const row = await h.db
      .selectFrom('osds')
      .select(['host', 'device'])
      .where('cluster_id', '=', id)
      .where('osd_id', '=', moved.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ host: a.hostname, device: moved.device });
    const { del, attributed } = await deleteAndCheckWipes(id, ns);
    expect(attributed(b.hostname)).toContain(spare);
    expect(del.logs.map((l: any) => l.message).join('\n')).toContain(
      `${a.hostname}: not wiped, recorded but not an OSD device of this cluster there: ${moved.device}`,
    );
    await h.recordHistory(del.temporal.workflow_id, 'deleteClusterWorkflow--zap-by-ceph');
  });
});

describe('create cluster: failures and cancellation', () => {
  it('a BMC that refuses the credentials fails creation before anything is installed: cluster ERROR with the reason, nodes released, locks released', async () => {
    const ns = await nodes(3);
    await powerOff(h.db, h.accountId, ns[2].ipmi_address);
    await setMachineFaults(h.db, h.accountId, ns[2].ipmi_address, { bmc_auth_fail: true });
    const c = await h.api('POST', '/v1/clusters', {
      name: 'bad-bmc',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect(c.status).toBe(202);
    const op = await h.waitForOperation(c.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('bmc_auth_failed');
    expect(op.steps.find((s: any) => s.name === 'power_on').status).toBe('failed');
    const cluster = (await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data;
    expect(cluster.status).toBe('ERROR');
    expect(cluster.status_reason).toMatch(/bmc_auth_failed.*nodes were released/);
    expect(cluster.current_operation_id).toBeNull();
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'ready',
        cluster_id: null,
        current_operation_id: null,
      });
    expect(await locksOf(op.id)).toEqual([]);
    expect(await getSandboxCephState(h.db, c.body.data.id)).toBeNull();
    await setMachineFaults(h.db, h.accountId, ns[2].ipmi_address, {});
    await h.recordHistory(op.temporal.workflow_id, 'createClusterWorkflow--failed-bmc-auth');
    // The ERROR cluster is deleted like any other.
    expect((await deleteCluster(c.body.data.id)).status).toBe('completed');
    expect((await h.api('GET', `/v1/clusters/${c.body.data.id}`)).status).toBe(404);
  });

  it('OSDs that never come up fail the readiness gate: cluster ERROR with the reason, nodes kept in error until deleted, locks released', async () => {
    const ns = await nodes(3);
    await setMachineFaults(h.db, h.accountId, ns[1].ipmi_address, { osds_stay_down: true });
    const c = await h.api('POST', '/v1/clusters', {
      name: 'osds-down',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    const op = await h.waitForOperation(c.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('pgs_not_clean');
    expect(op.error.message).toMatch(/OSDs up/);
    const cluster = (await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data;
    expect(cluster.status).toBe('ERROR');
    expect(cluster.status_reason).toMatch(/pgs_not_clean.*delete the cluster/);
    for (const n of ns) {
      const node = (await h.api('GET', `/v1/nodes/${n.id}`)).body.data;
      expect(node).toMatchObject({ status: 'error', cluster_id: c.body.data.id, current_operation_id: null });
      expect(node.status_reason).toMatch(/cluster creation failed/);
    }
    expect(await locksOf(op.id)).toEqual([]);
    await setMachineFaults(h.db, h.accountId, ns[1].ipmi_address, {});
    const del = await deleteCluster(c.body.data.id);
    expect(del.status).toBe('completed');
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'pending',
        cluster_id: null,
      });
  });

  it('cancel while waiting for SSH (before bootstrap): nodes released, the machine it powered on is off again, cluster ERROR "cancelled"', async () => {
    const ns = await nodes(3);
    await powerOff(h.db, h.accountId, ns[0].ipmi_address);
    await setMachineFaults(h.db, h.accountId, ns[0].ipmi_address, { no_boot: true });
    const c = await h.api('POST', '/v1/clusters', {
      name: 'cancel-early',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    const id = c.body.data.operation_id;
    await h.waitForOperation(id, (o) => o.current_step === 'wait_ssh');
    expect((await h.api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await h.waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: power off/);
    const cluster = (await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data;
    expect(cluster).toMatchObject({ status: 'ERROR', current_operation_id: null });
    expect(cluster.status_reason).toMatch(/^cancelled; nothing was installed/);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'ready',
        cluster_id: null,
        current_operation_id: null,
      });
    expect((await listPowerEvents(h.db, h.accountId, ns[0].ipmi_address)).map((e) => e.action)).toEqual(['on', 'off']);
    expect((await getSandboxMachine(h.db, h.accountId, ns[0].ipmi_address))!.power_state).toBe('off');
    expect(await locksOf(op.id)).toEqual([]);
    await h.recordHistory(op.temporal.workflow_id, 'createClusterWorkflow--cancelled-in-wait-ssh');
    await setMachineFaults(h.db, h.accountId, ns[0].ipmi_address, {});
    await deleteCluster(c.body.data.id);
  });

  it('cancel while waiting for readiness (after bootstrap): cluster ERROR "cancelled", nodes kept in error, nothing locked; delete then releases them', async () => {
    const ns = await nodes(3);
    await setMachineFaults(h.db, h.accountId, ns[2].ipmi_address, { osds_stay_down: true });
    const c = await h.api('POST', '/v1/clusters', {
      name: 'cancel-late',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    const id = c.body.data.operation_id;
    await h.waitForOperation(id, (o) => o.current_step === 'wait_ready');
    expect((await h.api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await h.waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.steps.find((s: any) => s.name === 'bootstrap').status).toBe('completed');
    const cluster = (await h.api('GET', `/v1/clusters/${c.body.data.id}`)).body.data;
    expect(cluster).toMatchObject({ status: 'ERROR', current_operation_id: null });
    expect(cluster.status_reason).toMatch(/^cancelled; delete the cluster/);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'error',
        cluster_id: c.body.data.id,
        current_operation_id: null,
      });
    expect(await locksOf(op.id)).toEqual([]);
    await h.recordHistory(op.temporal.workflow_id, 'createClusterWorkflow--cancelled-in-wait-ready');
    await setMachineFaults(h.db, h.accountId, ns[2].ipmi_address, {});
    expect((await deleteCluster(c.body.data.id)).status).toBe('completed');
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'pending',
        cluster_id: null,
      });
  });
});

describe('delete cluster', () => {
  it('without X-Confirm-Delete: 400 confirmation_required and nothing changes; dry run plans; delete wipes, nodes pending, GET 404', async () => {
    const ns = await nodes(3);
    const c = await h.api('POST', '/v1/clusters', {
      name: 'doomed',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    const id = c.body.data.id;

    for (const headers of [{}, { 'x-confirm-delete': 'false' }, { 'x-confirm-delete': 'yes' }] as Record<
      string,
      string
    >[]) {
      const r = await h.api('DELETE', `/v1/clusters/${id}`, undefined, headers);
      expect([r.status, r.body.error.code]).toEqual([400, 'confirmation_required']);
    }
    expect((await h.api('GET', `/v1/clusters/${id}`)).body.data).toMatchObject({
      status: 'HEALTH_OK',
      current_operation_id: null,
    });
    expect((await h.api('GET', `/v1/operations?cluster_id=${id}&type=cluster.delete`)).body.meta.total).toBe(0);
    expect(await getSandboxCephState(h.db, id)).not.toBeNull();

    const dry = await h.api('DELETE', `/v1/clusters/${id}?dry_run=true`);
    expect(dry.status).toBe(200);
    expect(dry.body.data.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'mark_deleting',
      'power_on',
      'wait_ssh',
      'stop_ceph',
      'zap_devices',
      'remove_cluster',
      'release_nodes',
    ]);
    const osds = await h.db.selectFrom('osds').select(['host', 'device']).where('cluster_id', '=', id).execute();
    expect(Object.values(dry.body.data.facts.osd_devices).flat().length).toBe(osds.length);
    expect((await h.api('GET', `/v1/clusters/${id}`)).body.data.status).toBe('HEALTH_OK');

    const r = await h.api('DELETE', `/v1/clusters/${id}`, undefined, { 'x-confirm-delete': 'true' });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({ id, status: 'DELETING' });
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect((await h.api('GET', `/v1/clusters/${id}`)).status).toBe(404);
    expect((await h.api('GET', `/v1/clusters/${id}`)).body.error.code).toBe('cluster_not_found');
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'pending',
        cluster_id: null,
        current_operation_id: null,
      });
    expect(await getSandboxCephState(h.db, id)).toBeNull();
    expect(await h.db.selectFrom('osds').selectAll().where('cluster_id', '=', id).execute()).toEqual([]);
    expect(await locksOf(op.id)).toEqual([]);
    expect((await h.api('DELETE', `/v1/clusters/${id}`, undefined, { 'x-confirm-delete': 'true' })).status).toBe(404);
    await h.recordHistory(op.temporal.workflow_id, 'deleteClusterWorkflow--completed');
  });

  it('one operation per cluster: a delete while the creation runs is 409 resource_busy naming it', async () => {
    const ns = await nodes(3);
    await setMachineFaults(h.db, h.accountId, ns[0].ipmi_address, { osds_stay_down: true });
    const c = await h.api('POST', '/v1/clusters', {
      name: 'busy',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    await h.waitForOperation(c.body.data.operation_id, (o) => o.current_step === 'wait_ready');
    const r = await h.api('DELETE', `/v1/clusters/${c.body.data.id}`, undefined, { 'x-confirm-delete': 'true' });
    expect([r.status, r.body.error.code, r.body.error.operation_id]).toEqual([
      409,
      'resource_busy',
      c.body.data.operation_id,
    ]);
    const reboot = await h.api('POST', `/v1/nodes/${ns[1].id}/reboot`, {});
    expect([reboot.status, reboot.body.error.code]).toEqual([409, 'resource_busy']);
    await h.api('POST', `/v1/operations/${c.body.data.operation_id}/cancel`);
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('cancelled');
    await setMachineFaults(h.db, h.accountId, ns[0].ipmi_address, {});
    expect((await deleteCluster(c.body.data.id)).status).toBe('completed');
  });
});

/**
 * Cancelling a cluster deletion, through the API. Before `stop_ceph` nothing was removed: the
 * cluster must come back as it was (status, nodes, Ceph), usable by the next operation. From
 * `stop_ceph` on, Ceph is partly gone: the cluster is ERROR, and a new delete finishes the job.
 */
describe('delete cluster: cancel', () => {
  async function healthyCluster(name: string) {
    const ns = await nodes(3);
    const c = await h.api('POST', '/v1/clusters', { name, node_ids: ns.map((n) => n.id), ceph_version: 'reef' });
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    return { id: c.body.data.id as string, ns };
  }

  /** The cluster is as before the delete: HEALTH_OK, members online, Ceph intact, and it takes a new operation. */
  async function usableAgain(id: string, ns: any[], reason: RegExp) {
    const cluster = (await h.api('GET', `/v1/clusters/${id}`)).body.data;
    expect(cluster).toMatchObject({ status: 'HEALTH_OK', current_operation_id: null });
    expect(cluster.status_reason).toMatch(reason);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'online',
        cluster_id: id,
        current_operation_id: null,
      });
    const state = (await getSandboxCephState(h.db, id))!;
    expect(state).not.toBeNull();
    expect(state.noout_hosts).toEqual([]);
    expect(state.osds.every((o) => o.stopped_at === null)).toBe(true);
    expect(state.mons).toHaveLength(3);
    // The next operation on the cluster is accepted (no lock left) and works.
    const pool = await h.api('POST', `/v1/clusters/${id}/pools`, { name: 'after-cancel', type: 'replicated' });
    expect(pool.status).toBe(202);
    expect((await h.waitForOperation(pool.body.data.operation_id)).status).toBe('completed');
  }

  it('cancelled right after the 202 (before the preflight read anything): the cluster is back to HEALTH_OK, not stuck DELETING', async () => {
    const { id, ns } = await healthyCluster('cancel-del-early');
    const r = await h.api('DELETE', `/v1/clusters/${id}`, undefined, { 'x-confirm-delete': 'true' });
    expect(r.status).toBe(202);
    expect(r.body.data.status).toBe('DELETING');
    expect((await h.api('POST', `/v1/operations/${r.body.data.operation_id}/cancel`)).status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('cancelled');
    // The cancel landed before the preflight had read the cluster (its previous status).
    expect(op.steps.find((s: any) => s.name === 'preflight').status).not.toBe('completed');
    expect(op.steps.find((s: any) => s.name === 'stop_ceph').status).toBe('cancelled');
    expect(await locksOf(op.id)).toEqual([]);
    await h.recordHistory(op.temporal.workflow_id, 'deleteClusterWorkflow--cancelled-at-start');
    await usableAgain(id, ns, /^deletion cancelled; nothing was removed/);
    expect((await deleteCluster(id)).status).toBe('completed');
  });

  it('cancelled while power_on retries a BMC that does not answer (fault set through the sandbox API): nothing removed, cluster usable', async () => {
    const { id, ns } = await healthyCluster('cancel-del-bmc');
    const fault = await h.api('PUT', `/v1/sandbox/machines/${ns[1].id}/faults`, { faults: { bmc_unreachable: true } });
    expect([fault.status, fault.body.data.faults]).toEqual([200, ['bmc_unreachable']]);
    const r = await h.api('DELETE', `/v1/clusters/${id}`, undefined, { 'x-confirm-delete': 'true' });
    const opId = r.body.data.operation_id;
    await h.waitForOperation(opId, (o) => o.current_step === 'power_on');
    // Still retrying: the cluster is DELETING, its nodes locked.
    expect((await h.api('GET', `/v1/clusters/${id}`)).body.data.status).toBe('DELETING');
    expect((await h.api('POST', `/v1/clusters/${id}/pools`, { name: 'too-soon', type: 'replicated' })).status).toBe(
      409,
    );
    expect((await h.api('POST', `/v1/operations/${opId}/cancel`)).status).toBe(202);
    const op = await h.waitForOperation(opId);
    expect(op.status).toBe('cancelled');
    expect(op.steps.find((s: any) => s.name === 'power_on').status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: cluster back to HEALTH_OK/);
    expect(await locksOf(op.id)).toEqual([]);
    await h.recordHistory(op.temporal.workflow_id, 'deleteClusterWorkflow--cancelled-in-power-on');
    expect((await h.api('PUT', `/v1/sandbox/machines/${ns[1].id}/faults`, { faults: {} })).status).toBe(200);
    await usableAgain(id, ns, /^deletion cancelled; nothing was removed/);
    expect((await deleteCluster(id)).status).toBe('completed');
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'pending',
        cluster_id: null,
      });
  });

  it('cancelled while stop_ceph retries a host whose daemons will not stop: cluster ERROR "delete it again", nothing locked; a second delete completes', async () => {
    const { id, ns } = await healthyCluster('cancel-del-stop');
    const stuck = (await h.api('GET', `/v1/nodes/${ns[2].id}`)).body.data.hostname as string;
    expect(
      (await h.api('PUT', `/v1/sandbox/machines/${ns[2].id}/faults`, { faults: { rm_cluster_fails: true } })).status,
    ).toBe(200);
    const r = await h.api('DELETE', `/v1/clusters/${id}`, undefined, { 'x-confirm-delete': 'true' });
    const opId = r.body.data.operation_id;
    // Held in stop_ceph: the other hosts' daemons are stopped, the stuck host's are retried.
    await h.waitForOperation(opId, (o) => o.current_step === 'stop_ceph');
    await expect
      .poll(
        async () =>
          (await getSandboxCephState(h.db, id))!.osds
            .filter((o) => o.host !== stuck)
            .every((o) => o.stopped_at !== null),
        { timeout: 20_000 },
      )
      .toBe(true);
    expect((await h.api('POST', `/v1/operations/${opId}/cancel`)).status).toBe(202);
    const op = await h.waitForOperation(opId);
    expect(op.status).toBe('cancelled');
    expect(op.steps.map((st: any) => [st.name, st.status])).toEqual([
      ['preflight', 'completed'],
      ['mark_deleting', 'completed'],
      ['power_on', 'completed'],
      ['wait_ssh', 'completed'],
      ['stop_ceph', 'cancelled'],
      ['zap_devices', 'cancelled'],
      ['remove_cluster', 'cancelled'],
      ['release_nodes', 'cancelled'],
    ]);
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: cluster ERROR \(partly deleted\)/);
    expect(await locksOf(op.id)).toEqual([]);
    await h.recordHistory(op.temporal.workflow_id, 'deleteClusterWorkflow--cancelled-in-stop-ceph');

    // Ceph is partly gone, and the cluster says so; its nodes stay in it, free for the next delete.
    const cluster = (await h.api('GET', `/v1/clusters/${id}`)).body.data;
    expect(cluster).toMatchObject({ status: 'ERROR', current_operation_id: null });
    expect(cluster.status_reason).toMatch(/^deletion cancelled; Ceph was partly removed: delete it again/);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        cluster_id: id,
        current_operation_id: null,
      });
    const state = (await getSandboxCephState(h.db, id))!;
    expect(state.osds.filter((o) => o.host === stuck).every((o) => o.stopped_at === null)).toBe(true);
    expect(state.osds.filter((o) => o.host !== stuck).every((o) => o.stopped_at !== null)).toBe(true);

    // The fault cleared, the next delete finishes the job.
    expect((await h.api('PUT', `/v1/sandbox/machines/${ns[2].id}/faults`, { faults: {} })).status).toBe(200);
    expect((await deleteCluster(id)).status).toBe('completed');
    expect((await h.api('GET', `/v1/clusters/${id}`)).status).toBe(404);
    for (const n of ns)
      expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({
        status: 'pending',
        cluster_id: null,
      });
  });
});
