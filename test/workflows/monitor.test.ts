import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxDriverSet } from '../../drivers/sandbox';
import type { CephDriver } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { generateApiKey, hashApiKey } from '../../lib/secrets';
import { settleOperationsWorkflow } from '../../workflows/settle-operations.workflow';
import { SA_ACCOUNT_ID, SA_CLUSTER_ID, monitorWorkflowId } from '../../workflows/contracts';
import { createTestAccount } from '../helpers/db';
import { createLogger } from '../../lib/logger';
import { ensureClusterMonitors } from '../../worker/cluster-monitors';
import { checkCodes, clusterHealth, powerOff, powerOn, startHarness, type Harness, until } from './cluster-harness';

/**
 * The cluster monitor (issue 11): one workflow per cluster, started with the create, reads Ceph every
 * NF_MONITOR_INTERVAL_MS and records health, checks, OSDs and drift; GET /v1/clusters/{id}/health
 * shows it. Real API + worker + Temporal + PostgreSQL with the sandbox drivers; the sandbox's
 * hardware is changed as a person in the machine room would (power, `ceph osd set-group noout` by hand).
 */
const INTERVAL_MS = 1000;
// A round is a few reads and one transaction; on this shared 2-core machine allow it one more second.
const TWO_INTERVALS = 2 * INTERVAL_MS + 2000;
let h: Harness;
let clusterId: string;
let nodes: any[];
let ceph: CephDriver;

beforeAll(async () => {
  h = await startHarness({ NF_MONITOR_INTERVAL_MS: String(INTERVAL_MS), NF_MONITOR_ROUNDS_PER_RUN: '4' });
});

afterAll(async () => {
  await h?.close();
});

const health = () => clusterHealth(h, clusterId);
const codes = checkCodes;

describe('cluster monitor', () => {
  it('starts with the create: one workflow per cluster, with the cluster search attributes, health recorded', async () => {
    nodes = [await h.registerNode(), await h.registerNode(), await h.registerNode()];
    const c = await h.api('POST', '/v1/clusters', {
      name: 'watched',
      node_ids: nodes.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect(c.status).toBe(202);
    clusterId = c.body.data.id;
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    ceph = createSandboxDriverSet(h.db, h.accountId).ceph({
      clusterId,
      admin: { host: nodes[0].ip_address, port: 22, username: 'x', privateKey: '', pinnedFingerprint: null },
    });

    const handle = h.client.workflow.getHandle(monitorWorkflowId(clusterId));
    const d = await handle.describe();
    expect(d.status.name).toBe('RUNNING');
    expect(d.typedSearchAttributes.get(SA_CLUSTER_ID)).toBe(clusterId);
    expect(d.typedSearchAttributes.get(SA_ACCOUNT_ID)).toBe(h.accountId);

    const first = await until('a monitor round after the create', async () => {
      const hl = await health();
      return hl.observed_at && hl.mons.total > 0 ? hl : undefined;
    });
    expect(first).toMatchObject({
      cluster_id: clusterId,
      status: 'HEALTH_OK',
      checks: [],
      osds_down: [],
      noout_hosts: [],
      autoscale_frozen: false,
      mgr_available: true,
    });
    expect(first.mons.in_quorum).toHaveLength(3);
    expect(first.pgs.total).toBeGreaterThan(0);
  });

  it('an OSD host goes down → HEALTH_WARN with OSD_DOWN within two intervals; back up → cleared, HEALTH_OK', async () => {
    const t0 = Date.now();
    await powerOff(h.db, h.accountId, nodes[2].ipmi_address);
    const warn = await until(
      'OSD_DOWN',
      async () => {
        const hl = await health();
        return hl.status === 'HEALTH_WARN' && codes(hl).includes('OSD_DOWN') ? hl : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    const took = Date.now() - t0;
    expect(took).toBeLessThanOrEqual(TWO_INTERVALS);
    const check = warn.checks.find((c: any) => c.code === 'OSD_DOWN');
    expect(check).toMatchObject({ source: 'ceph', severity: 'HEALTH_WARN' });
    expect(Date.parse(check.since)).toBeGreaterThanOrEqual(t0 - 1000);
    expect(warn.osds_down.length).toBeGreaterThan(0);
    expect(warn.osds_down.every((o: any) => o.host === nodes[2].hostname)).toBe(true);
    // The cluster and its OSDs as the API lists them say the same.
    expect((await h.api('GET', `/v1/clusters/${clusterId}`)).body.data.status).toBe('HEALTH_WARN');
    const osds = (await h.api('GET', `/v1/clusters/${clusterId}/osds`)).body.data;
    const downIds = warn.osds_down.map((o: any) => o.osd_id);
    for (const o of osds) if (downIds.includes(o.osd_id ?? o.id)) expect(o.status).toBe('down');

    // The check stays raised with the same `since` on later rounds.
    const later = await until('a later round', async () => {
      const hl = await health();
      return Date.parse(hl.observed_at) > Date.parse(warn.observed_at) ? hl : undefined;
    });
    expect(later.checks.find((c: any) => c.code === 'OSD_DOWN').since).toBe(check.since);

    await powerOn(h.db, h.accountId, nodes[2].ipmi_address);
    const ok = await until(
      'OSD_DOWN cleared',
      async () => {
        const hl = await health();
        return hl.status === 'HEALTH_OK' && !codes(hl).includes('OSD_DOWN') ? hl : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    expect(ok.osds_down).toEqual([]);

    // Each change is an event (the outbox): the check raised and cleared, the status there and back.
    const events = async (type: string) =>
      (await h.api('GET', `/v1/events?type=${type}&cluster_id=${clusterId}&per_page=100`)).body.data as any[];
    const raised = await events('cluster.health_check_raised');
    expect(raised.filter((e) => e.data.code === 'OSD_DOWN')).toHaveLength(1);
    expect(raised.find((e) => e.data.code === 'OSD_DOWN').data).toMatchObject({
      source: 'ceph',
      severity: 'HEALTH_WARN',
    });
    expect((await events('cluster.health_check_cleared')).filter((e) => e.data.code === 'OSD_DOWN')).toHaveLength(1);
    const moves = (await events('cluster.status_changed')).map((e) => `${e.data.from}→${e.data.to}`).reverse();
    expect(moves).toEqual(expect.arrayContaining(['HEALTH_OK→HEALTH_WARN', 'HEALTH_WARN→HEALTH_OK']));
  });

  it('noout set by hand (no operation recorded it) → NF_NOOUT_ORPHANED reported, not repaired', async () => {
    const host = nodes[1].hostname;
    await ceph.setGroupNoout(host);
    const drift = await until('NF_NOOUT_ORPHANED', async () => {
      const hl = await health();
      return codes(hl).includes('NF_NOOUT_ORPHANED') ? hl : undefined;
    });
    expect(drift.noout_hosts).toEqual([host]);
    expect(drift.checks.find((c: any) => c.code === 'NF_NOOUT_ORPHANED')).toMatchObject({
      source: 'nodefoundry',
      severity: 'HEALTH_WARN',
    });
    expect(drift.checks.find((c: any) => c.code === 'NF_NOOUT_ORPHANED').summary).toContain(host);
    // Two more rounds: still set on the cluster (not ours to remove), still reported.
    const seen = Date.parse(drift.observed_at);
    const after = await until('two more rounds', async () => {
      const hl = await health();
      return Date.parse(hl.observed_at) >= seen + 2 * INTERVAL_MS ? hl : undefined;
    });
    expect(await ceph.nooutHosts()).toEqual([host]);
    expect(codes(after)).toContain('NF_NOOUT_ORPHANED');

    await ceph.unsetGroupNoout(host);
    const clear = await until('NF_NOOUT_ORPHANED cleared', async () => {
      const hl = await health();
      return !codes(hl).includes('NF_NOOUT_ORPHANED') ? hl : undefined;
    });
    expect(clear.noout_hosts).toEqual([]);
  });

  it('a host in maintenance (issue 13 #1): its noout is neither reported (NF_NOOUT_ORPHANED) nor repaired, the node stays maintenance', async () => {
    const target = nodes[2];
    const enter = await h.api('POST', `/v1/nodes/${target.id}/maintenance`, {});
    expect(enter.status).toBe(202);
    expect((await h.waitForOperation(enter.body.data.operation_id)).status).toBe('completed');
    const first = await until('a round seeing the maintenance noout', async () => {
      const hl = await health();
      return hl.noout_hosts.includes(target.hostname) ? hl : undefined;
    });
    const seen = Date.parse(first.observed_at);
    const after = await until('two more rounds', async () => {
      const hl = await health();
      return Date.parse(hl.observed_at) >= seen + 2 * INTERVAL_MS ? hl : undefined;
    });
    expect(after.noout_hosts).toEqual([target.hostname]);
    expect(codes(after)).not.toContain('NF_NOOUT_ORPHANED');
    expect(await ceph.nooutHosts()).toEqual([target.hostname]);
    expect((await h.api('GET', `/v1/nodes/${target.id}`)).body.data.status).toBe('maintenance');

    const exit = await h.api('DELETE', `/v1/nodes/${target.id}/maintenance`);
    expect(exit.status).toBe(202);
    expect((await h.waitForOperation(exit.body.data.operation_id)).status).toBe('completed');
    expect(await ceph.nooutHosts()).toEqual([]);
    expect((await h.api('GET', `/v1/nodes/${target.id}`)).body.data.status).toBe('online');
    await until('OSD_DOWN cleared after the exit', async () => {
      const hl = await health();
      return hl.noout_hosts.length === 0 && hl.osds_down.length === 0 ? hl : undefined;
    });
  });

  it('autoscale frozen by hand → NF_AUTOSCALE_FROZEN_ORPHANED, left; frozen by an upgrade that ended without releasing it → unfrozen', async () => {
    await ceph.setNoAutoscale(true);
    const drift = await until('NF_AUTOSCALE_FROZEN_ORPHANED', async () => {
      const hl = await health();
      return codes(hl).includes('NF_AUTOSCALE_FROZEN_ORPHANED') ? hl : undefined;
    });
    expect(drift.autoscale_frozen).toBe(true);
    const seen = Date.parse(drift.observed_at);
    await until('two more rounds', async () => {
      const hl = await health();
      return Date.parse(hl.observed_at) >= seen + 2 * INTERVAL_MS ? hl : undefined;
    });
    expect(await ceph.noAutoscale()).toBe(true);

    // The ledger shows an upgrade froze it and ended (failed) without releasing it: certainly ours.
    const id = newId('operation');
    const workflowId = `${clusterId}/upgrade/${id}`;
    await h.db
      .insertInto('operations')
      .values({
        id,
        account_id: h.accountId,
        environment: 'sandbox',
        type: 'cluster.upgrade',
        status: 'failed',
        cluster_id: clusterId,
        request_id: 'req_monitor',
        workflow_id: workflowId,
        params: '{}',
      })
      .execute();
    await h.db
      .insertInto('operation_changes')
      .values({
        operation_id: id,
        workflow_id: workflowId,
        kind: 'autoscale_frozen',
        subject: clusterId,
        details: '{}',
      })
      .execute();
    await until('the monitor to release the freeze', async () => !(await ceph.noAutoscale()), TWO_INTERVALS + 5000);
    // The repair unsets, then closes the ledger entry: wait for the entry too (CI once read in between).
    const ledger = await until('the ledger entry closed', async () => {
      const rows = await h.db
        .selectFrom('operation_changes')
        .select(['state', 'note'])
        .where('operation_id', '=', id)
        .execute();
      return rows.every((r) => r.state !== 'open') ? rows : undefined;
    });
    expect(ledger).toEqual([
      { state: 'undone', note: 'unset by the cluster monitor: the operation that set it no longer runs' },
    ]);
    const after = await until('the check cleared', async () => {
      const hl = await health();
      return !codes(hl).includes('NF_AUTOSCALE_FROZEN_ORPHANED') ? hl : undefined;
    });
    expect(after.autoscale_frozen).toBe(false);
  });

  it('a noout left by a reboot terminated from Temporal → repaired by the monitor, the ledger says so', async () => {
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
    expect(await ceph.nooutHosts()).toEqual([target.hostname]);
    await h.client.workflow.getHandle(op0.temporal.workflow_id).terminate('terminated from the Web UI');
    // No settler runs in this file: the operation row stays in_progress, the monitor is on its own.
    expect((await h.api('GET', `/v1/operations/${id}`)).body.data.status).toBe('in_progress');

    await until(
      'the monitor to unset the noout',
      async () => (await ceph.nooutHosts()).length === 0,
      TWO_INTERVALS + 5000,
    );
    // The repair unsets, then closes the ledger entry: wait for the entry too.
    const ledger = await until('the ledger entry closed', async () => {
      const rows = await h.db
        .selectFrom('operation_changes')
        .select(['kind', 'subject', 'state', 'note'])
        .where('operation_id', '=', id)
        .where('kind', '=', 'noout_host')
        .execute();
      return rows.every((r) => r.state !== 'open') ? rows : undefined;
    });
    expect(ledger).toEqual([
      {
        kind: 'noout_host',
        subject: `${clusterId}/${target.hostname}`,
        state: 'undone',
        note: 'unset by the cluster monitor: the operation that set it no longer runs',
      },
    ]);
    const after = await until('a round after the repair', async () => {
      const hl = await health();
      return hl.noout_hosts.length === 0 ? hl : undefined;
    });
    expect(codes(after)).not.toContain('NF_NOOUT_ORPHANED');
    // The repair is an event that says what was undone, written when the repairing round records
    // itself (a moment after the unset; the health read above may still be the round before).
    await until('the repair event', async () => {
      const cleared = (
        await h.api('GET', `/v1/events?type=cluster.health_check_cleared&cluster_id=${clusterId}&per_page=100`)
      ).body.data as any[];
      const repairs = cleared.filter((e) => e.data.code === 'NF_DRIFT_REPAIRED').map((e) => e.data.repaired.join(' '));
      return repairs.some((r) => r.includes(target.hostname) && r.includes('noout'));
    });

    // The settler (its Schedule is off in tests: run once) settles the rest: machine on, locks
    // released; it finds the noout entry already undone and leaves it.
    const settled = await h.client.workflow.execute(settleOperationsWorkflow, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `settle-test/${h.accountId}/monitor`,
      args: [{ accountId: h.accountId }],
    });
    expect(settled.settled).toEqual([id]);
    await until('OSDs back up', async () => {
      const hl = await health();
      return hl.osds_down.length === 0 ? hl : undefined;
    });
  });

  it('the admin node does not answer → UNREACHABLE with the reason; it answers again → health again', async () => {
    await powerOff(h.db, h.accountId, nodes[0].ipmi_address);
    const down = await until(
      'UNREACHABLE',
      async () => {
        const c = (await h.api('GET', `/v1/clusters/${clusterId}`)).body.data;
        return c.status === 'UNREACHABLE' ? c : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    expect(down.status_reason).toMatch(/admin node did not answer/);
    expect((await health()).status).toBe('UNREACHABLE');
    const listed = await h.api('GET', '/v1/clusters?status=UNREACHABLE');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((c: any) => c.id)).toEqual([clusterId]);

    await powerOn(h.db, h.accountId, nodes[0].ipmi_address);
    await until('health back', async () => {
      const hl = await health();
      return hl.status.startsWith('HEALTH_') && hl.status_reason === null ? hl : undefined;
    });
  });

  it("another account's key gets 404 for the health; an unknown id 404", async () => {
    const other = await createTestAccount(h.db);
    const key = generateApiKey('test');
    await h.db
      .insertInto('api_keys')
      .values({
        id: newId('key'),
        account_id: other,
        kind: 'test',
        name: 'other',
        hint: key.slice(0, 15),
        key_hash: hashApiKey(key),
      })
      .execute();
    const r = await h.api('GET', `/v1/clusters/${clusterId}/health`, undefined, { authorization: `Bearer ${key}` });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('cluster_not_found');
    const u = await h.api('GET', `/v1/clusters/${newId('cluster')}/health`);
    expect([u.status, u.body.error.code]).toEqual([404, 'cluster_not_found']);
  });

  it('a monitor terminated from the Web UI comes back when a worker starts (ensureClusterMonitors); a running one is not doubled', async () => {
    const handle = h.client.workflow.getHandle(monitorWorkflowId(clusterId));
    const running = (await handle.describe()).runId;
    // A running monitor is joined: same run.
    expect(await ensureClusterMonitors(h.client, h.db, h.config, createLogger('silent'), h.accountId)).toBe(1);
    expect((await handle.describe()).runId).toBe(running);

    await handle.terminate('terminated from the Web UI');
    expect((await h.client.workflow.getHandle(monitorWorkflowId(clusterId)).describe()).status.name).toBe('TERMINATED');
    const before = Date.parse((await health()).observed_at);
    expect(await ensureClusterMonitors(h.client, h.db, h.config, createLogger('silent'), h.accountId)).toBe(1);
    const d = await h.client.workflow.getHandle(monitorWorkflowId(clusterId)).describe();
    expect([d.status.name, d.runId !== running]).toEqual(['RUNNING', true]);
    expect(d.typedSearchAttributes.get(SA_CLUSTER_ID)).toBe(clusterId);
    await until('a round of the new monitor', async () => Date.parse((await health()).observed_at) > before);
  });

  it('history stays bounded (continue-as-new) and the monitor ends once the cluster is deleted', async () => {
    const handle = h.client.workflow.getHandle(monitorWorkflowId(clusterId));
    const first = (await handle.describe()).runId;
    // 4 rounds per run: a new run within a few intervals, with the same search attributes.
    const next = await until(
      'continue-as-new',
      async () => {
        const d = await h.client.workflow.getHandle(monitorWorkflowId(clusterId)).describe();
        return d.runId !== first ? d : undefined;
      },
      10 * INTERVAL_MS,
    );
    expect(next.typedSearchAttributes.get(SA_CLUSTER_ID)).toBe(clusterId);
    // The continued run says what it is in its current details (it has no summary of its own).
    const meta = await h.client.workflow
      .getHandle(monitorWorkflowId(clusterId), next.runId)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toBe(
      `Monitor of cluster ${clusterId}, continued as new every 4 rounds. The first run of this workflow id has the summary.`,
    );

    const del = await h.api('DELETE', `/v1/clusters/${clusterId}`, undefined, { 'x-confirm-delete': 'true' });
    expect(del.status).toBe(202);
    expect((await h.waitForOperation(del.body.data.operation_id)).status).toBe('completed');
    const ended = await until(
      'the monitor to end',
      async () => {
        const d = await h.client.workflow.getHandle(monitorWorkflowId(clusterId)).describe();
        return d.status.name === 'COMPLETED' ? d : undefined;
      },
      TWO_INTERVALS + 5000,
    );
    expect(await h.client.workflow.getHandle(monitorWorkflowId(clusterId), ended.runId).result()).toMatchObject({
      ended: 'cluster_deleted',
    });
    await h.recordHistory(monitorWorkflowId(clusterId), 'monitorClusterWorkflow--cluster-deleted');
  });
});
