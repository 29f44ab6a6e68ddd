import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { powerOff, powerOn, startHarness, type Harness, until } from './cluster-harness';

/**
 * Node statuses from the cluster monitor (issue 11; docs/operators.md §The cluster monitor, node
 * probes): each round probes every member no running operation holds, over SSH and its BMC; both
 * answer → `online`, either fails → `offline` with the reason naming which. Real API + worker +
 * Temporal + PostgreSQL with the sandbox drivers; faults through the sandbox API as a user would.
 */
const INTERVAL_MS = 1000;
// A round probes every member and writes one transaction; on this shared machine allow it slack.
const TWO_INTERVALS = 2 * INTERVAL_MS + 3000;
let h: Harness;
let clusterId: string;
let nodes: any[];

beforeAll(async () => {
  h = await startHarness({ NF_MONITOR_INTERVAL_MS: String(INTERVAL_MS), NF_MONITOR_ROUNDS_PER_RUN: '20' });
});

afterAll(async () => {
  await h?.close();
});

async function node(id: string): Promise<any> {
  const r = await h.api('GET', `/v1/nodes/${id}`);
  expect(r.status).toBe(200);
  return r.body.data;
}

async function nodeEvents(id: string): Promise<any[]> {
  const r = await h.api('GET', `/v1/events?type=node.status_changed&node_id=${id}&per_page=100`);
  expect(r.status).toBe(200);
  return r.body.data;
}

async function setFaults(id: string, faults: Record<string, boolean>): Promise<void> {
  const r = await h.api('PUT', `/v1/sandbox/machines/${id}/faults`, { faults });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** Resolves after the monitor has finished `n` more rounds (the health's observed_at moves on). */
async function rounds(n: number): Promise<void> {
  let seen = (await h.api('GET', `/v1/clusters/${clusterId}/health`)).body.data.observed_at;
  for (let i = 0; i < n; i++) {
    seen = await until(
      'a monitor round',
      async () => {
        const at = (await h.api('GET', `/v1/clusters/${clusterId}/health`)).body.data.observed_at;
        return at && at !== seen ? at : undefined;
      },
      TWO_INTERVALS + 5000,
    );
  }
}

describe('node statuses from the cluster monitor', () => {
  it('a created cluster’s members are online (the seed’s vocabulary), and stay so while they answer', async () => {
    nodes = [await h.registerNode(), await h.registerNode(), await h.registerNode()];
    const c = await h.api('POST', '/v1/clusters', {
      name: 'probed',
      node_ids: nodes.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect(c.status).toBe(202);
    clusterId = c.body.data.id;
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    await rounds(2);
    for (const n of nodes) expect(await node(n.id)).toMatchObject({ status: 'online', status_reason: null });
    // `?status=online` lists them; `active` is no longer a status.
    const listed = await h.api('GET', '/v1/nodes?status=online&per_page=100');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((n: any) => n.id).sort()).toEqual(nodes.map((n) => n.id).sort());
    expect((await h.api('GET', '/v1/nodes?status=active')).status).toBe(400);
  });

  it('a member’s BMC stops answering → offline (bmc: …) with a node.status_changed event; cleared → online', async () => {
    const target = nodes[1];
    const t0 = Date.now();
    await setFaults(target.id, { bmc_unreachable: true });
    const off = await until(
      'the node offline',
      async () => {
        const n = await node(target.id);
        return n.status === 'offline' ? n : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    console.log(`bmc_unreachable → offline in ${Date.now() - t0} ms`);
    expect(off.status_reason).toMatch(/^bmc: BMC .* did not answer/);
    expect(off.status_reason).not.toMatch(/ssh:/);
    // The host itself still serves: Ceph does not see a problem, the other members are untouched.
    for (const n of [nodes[0], nodes[2]]) expect((await node(n.id)).status).toBe('online');
    const raised = (await nodeEvents(target.id)).filter((e) => e.data.to === 'offline');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      type: 'node.status_changed',
      cluster_id: clusterId,
      data: { from: 'online', to: 'offline', reason: off.status_reason },
    });

    // Another round with the BMC still down: no second event, the node stays offline.
    await rounds(1);
    expect((await nodeEvents(target.id)).filter((e) => e.data.to === 'offline')).toHaveLength(1);

    await setFaults(target.id, {});
    const on = await until(
      'the node online again',
      async () => {
        const n = await node(target.id);
        return n.status === 'online' ? n : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    expect(on.status_reason).toBeNull();
    const back = (await nodeEvents(target.id)).filter((e) => e.data.to === 'online');
    expect(back.map((e) => e.data.from)).toContain('offline');
  });

  it('a member powered off → offline (ssh: …, the BMC reads power off); a boot that hangs (no_boot) → offline (ssh: …)', async () => {
    const target = nodes[2];
    await powerOff(h.db, h.accountId, target.ipmi_address);
    const off = await until(
      'the powered-off node offline',
      async () => {
        const n = await node(target.id);
        return n.status === 'offline' ? n : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    expect(off.status_reason).toMatch(/^ssh: .*powered off.*\(the BMC reads chassis power off\)$/);

    // Powered on, but the OS never comes up: SSH down, BMC answers "on".
    await setFaults(target.id, { no_boot: true });
    await powerOn(h.db, h.accountId, target.ipmi_address);
    const hung = await until(
      'the reason to follow the hung boot',
      async () => {
        const n = await node(target.id);
        return n.status === 'offline' && /booting/.test(n.status_reason ?? '') ? n : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    expect(hung.status_reason).toMatch(/^ssh: /);
    expect(hung.status_reason).not.toMatch(/bmc:|power off/);

    await setFaults(target.id, {});
    await until(
      'the node online after it booted',
      async () => ((await node(target.id)).status === 'online' ? true : undefined),
      TWO_INTERVALS + 5000,
    );
    await until(
      'OSDs back up',
      async () => {
        const hl = (await h.api('GET', `/v1/clusters/${clusterId}/health`)).body.data;
        return hl.osds_down.length === 0 ? true : undefined;
      },
      30_000,
    );
  });

  it('an upgrade refuses while a member is offline, naming the host (dry run and the real run)', async () => {
    const target = nodes[1];
    await setFaults(target.id, { bmc_unreachable: true });
    await until(
      'the node offline',
      async () => ((await node(target.id)).status === 'offline' ? true : undefined),
      TWO_INTERVALS + 5000,
    );
    const dry = await h.api('POST', `/v1/clusters/${clusterId}/upgrade?dry_run=true`, { ceph_version: 'squid' });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.data.would_run).toBe(false);
    const refusal = dry.body.data.refusals.find((r: any) => r.code === 'host_offline');
    expect(refusal?.message).toContain(target.hostname);
    expect(refusal?.message).toContain('offline');

    const started = await h.api('POST', `/v1/clusters/${clusterId}/upgrade`, { ceph_version: 'squid' });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const op = await h.waitForOperation(started.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('host_offline');
    expect(op.error.message).toContain(target.hostname);
    // The planner's refusal of a node the monitor called offline (a new path: its history is replayed).
    await h.recordHistory(op.temporal.workflow_id, 'upgradeClusterWorkflow--refused-node-offline');

    await setFaults(target.id, {});
    await until(
      'the node online',
      async () => ((await node(target.id)).status === 'online' ? true : undefined),
      TWO_INTERVALS + 5000,
    );
    const again = await h.api('POST', `/v1/clusters/${clusterId}/upgrade?dry_run=true`, { ceph_version: 'squid' });
    expect(again.body.data.refusals.map((r: any) => r.code)).not.toContain('host_offline');
  });

  it('a node held by a running reboot is left alone while it is down on purpose', async () => {
    const target = nodes[2];
    // The OS takes 6 s to boot after the power-on: the reboot waits for SSH through several rounds.
    await h.db
      .updateTable('sandbox_machines')
      .set({ boot_delay_ms: 6_000 })
      .where('account_id', '=', h.accountId)
      .where('ipmi_address', '=', target.ipmi_address)
      .execute();
    const before = (await nodeEvents(target.id)).length;
    const r = await h.api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.data.operation_id;
    await h.waitForOperation(id, (o) => o.current_step === 'wait_ssh');
    await rounds(2);
    // The reboot still waits for the host, whose SSH is down: the monitor did not call it offline.
    expect((await h.api('GET', `/v1/operations/${id}`)).body.data.current_step).toBe('wait_ssh');
    expect(await node(target.id)).toMatchObject({ status: 'online', status_reason: null });
    expect(await nodeEvents(target.id)).toHaveLength(before);

    const done = await h.waitForOperation(id);
    expect(done.status).toBe('completed');
    // A reboot of a member whose status reads `online` (histories before the rename say `active`).
    await h.recordHistory(done.temporal.workflow_id, 'rebootNodeWorkflow--online-member-completed');
    await rounds(1);
    expect(await node(target.id)).toMatchObject({ status: 'online', status_reason: null });
    expect(await nodeEvents(target.id)).toHaveLength(before);
  });
});
