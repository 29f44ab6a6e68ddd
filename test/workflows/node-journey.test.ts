import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { Db } from '../../db/database';
import {
  createSandboxCephCluster,
  createSandboxDriverSet,
  getSandboxCephState,
  getSandboxMachine,
  listPowerEvents,
  rackSandboxMachine,
  setMachineFaults,
} from '../../drivers/sandbox';
import type { Config } from '../../lib/config';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { generateApiKey, hashApiKey } from '../../lib/secrets';
import type { RunningWorker } from '../../worker/main';
import { testConfig } from '../helpers/config';
import { createTestAccount, testDb } from '../helpers/db';
import { historyText, recordHistory } from '../helpers/history';
import { generateSshKey } from '../helpers/ssh-keys';
import { startTestWorker } from '../helpers/worker';

/**
 * The foundation's user journey, end to end against a real Temporal server, a real PostgreSQL and
 * a real worker with the sandbox drivers: register nodes → ready → reboot → completed, read
 * through the HTTP API exactly as a client would.
 */
let db: Db;
let config: Config;
let worker: RunningWorker;
let connection: Connection;
let client: Client;
let server: Server;
let base: string;
let accountId: string;
let key: string;

beforeAll(async () => {
  db = testDb();
  config = testConfig();
  worker = await startTestWorker(config, db);
  connection = await Connection.connect({ address: config.temporal.address });
  client = new Client({ connection, namespace: config.temporal.namespace });
  const app = createApp({ db, temporal: client, config, logger: createLogger('silent') });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  accountId = await createTestAccount(db);
  key = generateApiKey('test');
  await db
    .insertInto('api_keys')
    .values({
      id: newId('key'),
      account_id: accountId,
      kind: 'test',
      name: 'journey',
      hint: key.slice(0, 15),
      key_hash: hashApiKey(key),
    })
    .execute();
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await worker?.shutdown();
  await connection?.close();
  await db?.destroy();
});

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Polls the operation through the API until it reaches a terminal status (or `until`). */
async function waitForOperation(
  id: string,
  until: (op: any) => boolean = (op) => ['completed', 'failed', 'cancelled'].includes(op.status),
) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await api('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (until(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

let seq = 0;
async function registerNode(): Promise<{ node: any; operationId: string }> {
  seq += 1;
  const { privateKey } = generateSshKey();
  const r = await api('POST', '/v1/nodes', {
    hostname: `storage-${seq.toString().padStart(2, '0')}`,
    ip_address: `10.10.1.${20 + seq}`,
    ipmi_address: `10.10.2.${20 + seq}`,
    ipmi_username: 'admin',
    ipmi_password: `bmc-secret-${seq}`,
    ssh_user: 'nodefoundry',
    ssh_private_key: privateKey,
  });
  expect(r.status).toBe(202);
  expect(r.body.data.status).toBe('pending');
  return { node: r.body.data, operationId: r.body.data.operation_id };
}

/** Three registered nodes made members of a sandbox cluster (cluster creation is a later operation). */
async function clusterOfThree(): Promise<{ clusterId: string; nodes: any[] }> {
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const { node, operationId } = await registerNode();
    expect((await waitForOperation(operationId)).status).toBe('completed');
    nodes.push((await api('GET', `/v1/nodes/${node.id}`)).body.data);
  }
  const clusterId = newId('cluster');
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: `c-${seq}`,
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
      replication: 3,
      minSize: 2,
      cephVersion: 'reef',
    },
    config.sandboxSpeed,
  );
  return { clusterId, nodes };
}

describe('node journey (API → Temporal → sandbox drivers → PostgreSQL)', () => {
  it('registers a node: inventory fills the hardware facts, pins the host key and the node becomes ready', async () => {
    const { node, operationId } = await registerNode();
    const op = await waitForOperation(operationId);
    expect(op.status).toBe('completed');
    expect(op.type).toBe('node.register');
    expect(op.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['inventory', 'completed'],
      ['check_bmc', 'completed'],
      ['mark_ready', 'completed'],
    ]);
    const got = (await api('GET', `/v1/nodes/${node.id}`)).body.data;
    expect(got.status).toBe('ready');
    expect(got.cpu_cores).toBeGreaterThan(0);
    expect(got.ram_gb).toBeGreaterThan(0);
    expect(got.drives.length).toBeGreaterThan(0);
    for (const d of got.drives) expect(typeof d.smart_ok).toBe('boolean');
    expect(got.ssh_host_key_fingerprint).toMatch(/^SHA256:/);
    await recordHistory(client, op.temporal.workflow_id, 'registerNodeWorkflow--completed');
  });

  it('reboots a cluster member: one power cycle, noout set then unset, OSDs back, PGs clean', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    expect(r.status).toBe(202);
    const op = await waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.progress).toBe(100);
    expect(op.error).toBeNull();
    expect(op.steps.every((s: any) => s.status === 'completed')).toBe(true);
    expect(op.temporal.workflow_id).toContain(target.id);
    expect(op.temporal.run_id).toBeTruthy();
    expect(op.temporal.ui_url).toContain(encodeURIComponent(op.temporal.workflow_id));

    const power = await listPowerEvents(db, accountId, target.ipmi_address);
    expect(power.map((e) => e.action)).toEqual(['soft', 'on']);
    for (const other of [nodes[0], nodes[2]]) {
      expect(await listPowerEvents(db, accountId, other.ipmi_address)).toEqual([]);
    }
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    // The stored row agrees with what the workflow reported.
    // The cluster's recorded state was refreshed from Ceph at the end: every OSD up, health OK.
    const osdRows = await db.selectFrom('osds').selectAll().where('cluster_id', '=', clusterId).execute();
    expect(osdRows.length).toBe(6);
    expect(osdRows.every((o) => o.status === 'up' && o.in)).toBe(true);
    expect(
      osdRows
        .filter((o) => o.node_id === target.id)
        .map((o) => o.osd_id)
        .sort(),
    ).toEqual(op.result.osds);
    const cluster = await db.selectFrom('clusters').selectAll().where('id', '=', clusterId).executeTakeFirstOrThrow();
    expect(cluster.status).toBe('HEALTH_OK');
    expect(cluster.osd_count).toBe(6);
    const row = await db.selectFrom('operations').selectAll().where('id', '=', op.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('completed');
    expect(await db.selectFrom('operation_locks').selectAll().where('operation_id', '=', op.id).execute()).toEqual([]);
    console.log('reboot operation:', JSON.stringify(op, null, 2));
    await recordHistory(client, op.temporal.workflow_id, 'rebootNodeWorkflow--cluster-member-completed');
  });

  it('hard-reboots a node in no cluster with power off then on, never reset', async () => {
    const { node, operationId } = await registerNode();
    await waitForOperation(operationId);
    const r = await api('POST', `/v1/nodes/${node.id}/reboot`, { method: 'hard' });
    expect(r.status).toBe(202);
    const op = await waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.steps.filter((s: any) => s.status === 'skipped').map((s: any) => s.name)).toEqual([
      'set_noout',
      'stop_osds',
      'wait_osds_up',
      'unset_noout',
      'wait_clean',
    ]);
    expect((await listPowerEvents(db, accountId, node.ipmi_address)).map((e) => e.action)).toEqual(['off', 'on']);
  });

  it('cancel mid-reboot runs compensation: machine on, OSDs up, noout unset, node free again', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[2];
    // The OS ignores the ACPI shutdown, so the reboot waits in power_off until we cancel it.
    await setMachineFaults(db, accountId, target.ipmi_address, { soft_off_ignored: true });
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, {});
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const running = await waitForOperation(id, (o) => o.current_step === 'power_off');
    expect(running.status).toBe('in_progress');
    // noout is set on the host while it is being rebooted, and its OSDs were stopped.
    const during = (await getSandboxCephState(db, clusterId))!;
    expect(during.noout_hosts).toEqual([target.hostname]);

    const c = await api('POST', `/v1/operations/${id}/cancel`);
    expect(c.status).toBe(202);
    const op = await waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: unset noout/);
    await recordHistory(client, op.temporal.workflow_id, 'rebootNodeWorkflow--cancelled-in-power-off');

    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    const machine = (await getSandboxMachine(db, accountId, target.ipmi_address))!;
    expect(machine.power_state).toBe('on');
    expect(machine.running).toBe(true);
    // The OSDs stopped for the reboot were started again by compensation.
    const ceph = createSandboxDriverSet(db, accountId).ceph({
      clusterId,
      admin: { host: nodes[0].ip_address, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
    });
    const hostOsds = (await ceph.osds()).filter((o) => o.host === target.hostname);
    expect(hostOsds.length).toBeGreaterThan(0);
    expect(hostOsds.every((o) => o.up)).toBe(true);
    await setMachineFaults(db, accountId, target.ipmi_address, {});
    const after = await api('GET', `/v1/nodes/${target.id}`);
    expect(after.body.data.current_operation_id).toBeNull();
    // The lock is released: the node takes a new reboot.
    const again = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'hard' });
    expect(again.status).toBe(202);
    expect((await waitForOperation(again.body.data.operation_id)).status).toBe('completed');
  });

  it('a BMC that dies mid-reboot: compensation tries power-on 3 times (not 40), then unsets noout and says the machine may be off', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    // The OS ignores the ACPI shutdown, so the reboot waits in power_off; then the BMC dies.
    await setMachineFaults(db, accountId, target.ipmi_address, { soft_off_ignored: true });
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await waitForOperation(id, (o) => o.current_step === 'power_off');
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([target.hostname]);
    // The BMC dies once it has accepted the soft power off (before that, the command itself would
    // be retried for a minute): the reboot then waits for an off that never comes.
    await expect
      .poll(async () => (await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action), {
        timeout: 30_000,
      })
      .toContain('soft');
    await setMachineFaults(db, accountId, target.ipmi_address, { soft_off_ignored: true, bmc_unreachable: true });

    // The forward wait ends at NF_WAIT_POWER_MS (10 s here); then compensation starts.
    const compensating = await waitForOperation(
      id,
      (o) => o.logs.some((l: any) => /compensating after failure/.test(l.message)) || o.status !== 'in_progress',
    );
    const op = await waitForOperation(id);
    expect(compensating.logs.map((l: any) => l.message).join('\n')).toMatch(
      /compensating after failure \(power_timeout\)/,
    );
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('power_timeout');
    // The operation says the machine may be off, and why (the BMC's failure).
    expect(op.error.message).toMatch(
      new RegExp(
        `Compensation incomplete: power ${target.hostname} back on failed: ${target.hostname} may still be powered off: bmc_unreachable`,
      ),
    );
    const logs = op.logs.map((l: any) => l.message).join('\n');
    expect(logs).toMatch(/undone: start the OSDs/);
    expect(logs).toMatch(/undone: unset noout/);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    // Bounded: 3 power-on attempts with 1 s and 2 s backoff, not the compensation preset's 40
    // (~35 min) — counted in the history below, so the bound holds however loaded the machine is.
    const history = await client.workflow.getHandle(op.temporal.workflow_id).fetchHistory();
    const scheduled = new Map<string, string>();
    const attempts: Record<string, number[]> = {};
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes)
        scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      const st = e.activityTaskStartedEventAttributes;
      const type = st ? scheduled.get(String(st.scheduledEventId)) : undefined;
      if (st && (type === 'powerCommand' || type === 'ensurePoweredOn')) (attempts[type] ??= []).push(st.attempt ?? 1);
    }
    // power soft (forward, once) then "make sure it ends up on" (compensation, 3 attempts).
    expect(attempts).toEqual({ powerCommand: [1], ensurePoweredOn: [3] });
    expect(await db.selectFrom('operation_locks').selectAll().where('operation_id', '=', op.id).execute()).toEqual([]);
    await recordHistory(client, op.temporal.workflow_id, 'rebootNodeWorkflow--failed-bmc-dead-power-on-bounded');
    await setMachineFaults(db, accountId, target.ipmi_address, {});
  });

  it('two concurrent reboots of one node: exactly one 202 and one 409 naming the running operation', async () => {
    const { node, operationId } = await registerNode();
    await waitForOperation(operationId);
    await setMachineFaults(db, accountId, node.ipmi_address, { soft_off_ignored: true });
    const [a, b] = await Promise.all([
      api('POST', `/v1/nodes/${node.id}/reboot`, {}),
      api('POST', `/v1/nodes/${node.id}/reboot`, {}),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([202, 409]);
    const winner = a.status === 202 ? a : b;
    const loser = a.status === 409 ? a : b;
    expect(loser.body.error.code).toBe('resource_busy');
    expect(loser.body.error.operation_id).toBe(winner.body.data.operation_id);
    await api('POST', `/v1/operations/${winner.body.data.operation_id}/cancel`);
    expect((await waitForOperation(winner.body.data.operation_id)).status).toBe('cancelled');
  });

  it('a BMC that refuses the credentials fails registration at once with bmc_auth_failed; the node shows why', async () => {
    seq += 1;
    const { privateKey } = generateSshKey();
    const body = {
      hostname: `storage-${seq}`,
      ip_address: `10.10.1.${20 + seq}`,
      ipmi_address: `10.10.2.${20 + seq}`,
      ipmi_username: 'admin',
      ipmi_password: 'right-password',
      ssh_user: 'nodefoundry',
      ssh_private_key: privateKey,
    };
    // The machine is already racked, with a BMC that rejects every login, when the node is registered.
    await rackSandboxMachine(
      db,
      {
        accountId,
        hostname: body.hostname,
        ipAddress: body.ip_address,
        ipmiAddress: body.ipmi_address,
        bmcUsername: 'admin',
        bmcPassword: body.ipmi_password,
      },
      0,
    );
    await setMachineFaults(db, accountId, body.ipmi_address, { bmc_auth_fail: true });
    const r = await api('POST', '/v1/nodes', body);
    expect(r.status).toBe(202);
    const op = await waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('bmc_auth_failed');
    expect(op.steps.find((s: any) => s.name === 'check_bmc').status).toBe('failed');
    // Non-retryable: the BMC check ran exactly once, no retries with backoff.
    const history = await client.workflow.getHandle(op.temporal.workflow_id).fetchHistory();
    const attempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.every((a) => a === 1)).toBe(true);
    const node = (await api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
    expect(node.status).toBe('error');
    expect(node.status_reason).toMatch(/registration failed/);
  });

  it('a host key that changed since registration stops the reboot with host_key_mismatch, and noout is unset', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[0];
    await setMachineFaults(db, accountId, target.ipmi_address, { host_key_changed: true });
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'hard' });
    const op = await waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('host_key_mismatch');
    await recordHistory(client, op.temporal.workflow_id, 'rebootNodeWorkflow--failed-host-key-mismatch');
    expect(op.steps.find((s: any) => s.name === 'wait_ssh').status).toBe('failed');
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    await setMachineFaults(db, accountId, target.ipmi_address, {});
  });

  it('keeps credentials out of Temporal: no password or private key in any workflow history', async () => {
    const { privateKey } = generateSshKey();
    seq += 1;
    const password = `Secr3t-bmc-pw-${seq}`;
    const r = await api('POST', '/v1/nodes', {
      hostname: `storage-${seq}`,
      ip_address: `10.10.1.${20 + seq}`,
      ipmi_address: `10.10.2.${20 + seq}`,
      ipmi_username: 'admin',
      ipmi_password: password,
      ssh_user: 'nodefoundry',
      ssh_private_key: privateKey,
    });
    const reg = await waitForOperation(r.body.data.operation_id);
    const reboot = await api('POST', `/v1/nodes/${r.body.data.id}/reboot`, { method: 'hard' });
    const rb = await waitForOperation(reboot.body.data.operation_id);
    for (const wid of [reg.temporal.workflow_id, rb.temporal.workflow_id]) {
      const history = historyText(await client.workflow.getHandle(wid).fetchHistory());
      // The decoded payloads are there (the node id is in every activity input); the secrets are not.
      expect(history).toContain('nodeId');
      expect(history).not.toContain(password);
      expect(history).not.toContain(privateKey.split('\n')[1]!);
    }
    const node = JSON.stringify((await api('GET', `/v1/nodes/${r.body.data.id}`)).body);
    expect(node).not.toContain(password);
    expect(node).not.toContain(privateKey.split('\n')[1]!);
  });

  it('a cancel that arrives before the first step still ends cancelled, recorded, with the node free', async () => {
    const { node, operationId } = await registerNode();
    await waitForOperation(operationId);
    const r = await api('POST', `/v1/nodes/${node.id}/reboot`, {});
    expect(r.status).toBe(202);
    const c = await api('POST', `/v1/operations/${r.body.data.operation_id}/cancel`);
    expect(c.status).toBe(202);
    const op = await waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('cancelled');
    const row = await db.selectFrom('operations').select('status').where('id', '=', op.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('cancelled');
    expect(await db.selectFrom('operation_locks').selectAll().where('operation_id', '=', op.id).execute()).toEqual([]);
  });

  it('dry run plans the reboot from the live state and changes nothing; the plan refuses what the request then refuses with 409', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    const plan = await api('POST', `/v1/nodes/${target.id}/reboot?dry_run=true`, { method: 'hard', drain_osds: false });
    expect(plan.status).toBe(200);
    expect(plan.body.data.would_run).toBe(true);
    expect(plan.body.data.refusals).toEqual([]);
    // drain_osds false: no stop_osds step; everything else of a cluster member's reboot, in order.
    expect(plan.body.data.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'set_noout',
      'power_off',
      'power_on',
      'wait_ssh',
      'wait_osds_up',
      'unset_noout',
      'wait_clean',
    ]);
    expect(plan.body.data.facts.osds.length).toBeGreaterThan(0);
    expect(await listPowerEvents(db, accountId, target.ipmi_address)).toEqual([]);
    expect((await api('GET', `/v1/operations?node_id=${target.id}&type=node.reboot`)).body.data).toEqual([]);

    // Another host down: stopping this one would make PGs inactive. The plan says so, and so does the run.
    // (the machine is switched off at the simulator, as a pulled power cord would)
    await db
      .updateTable('sandbox_machines')
      .set({ power_state: 'off', power_changed_at: new Date() })
      .where('account_id', '=', accountId)
      .where('ipmi_address', '=', nodes[2].ipmi_address)
      .execute();
    const refused = await api('POST', `/v1/nodes/${target.id}/reboot?dry_run=true`, {});
    expect(refused.status).toBe(200);
    expect(refused.body.data.would_run).toBe(false);
    expect(refused.body.data.refusals.map((r: any) => r.code)).toEqual(['not_ok_to_stop']);
    // The API knows before starting (issue 12 #4): 409 not_ok_to_stop, as the dry run said; no operation.
    const run = await api('POST', `/v1/nodes/${target.id}/reboot`, {});
    expect([run.status, run.body.error?.code]).toEqual([409, 'not_ok_to_stop']);
    expect(run.body.error.message).toContain(refused.body.data.refusals[0].message);
    expect(run.body.error.cluster_id).toBe(clusterId);
    expect((await api('GET', `/v1/operations?node_id=${target.id}&type=node.reboot`)).body.data).toEqual([]);
    expect(await listPowerEvents(db, accountId, target.ipmi_address)).toEqual([]);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
  });
});
