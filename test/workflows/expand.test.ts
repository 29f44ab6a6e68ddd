import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { json } from '../../db/database';
import { createDriverRegistry } from '../../drivers';
import { getSandboxCephState } from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import type { RunningWorker } from '../../worker/main';
import { recordHistory } from '../helpers/history';
import { startTestApi, type TestApi } from '../helpers/api';
import { sandboxCluster, sandboxNode, TERMINAL, waitForOperation } from '../helpers/sandbox-cluster';
import { startTestWorker } from '../helpers/worker';
import { settleOperationsWorkflow } from '../../workflows/settle-operations.workflow';

/**
 * Adding hosts to a running cluster (issue 13 item 3) end to end: HTTP API → Temporal → worker with
 * the sandbox drivers → PostgreSQL. The cluster is a fixture (machines, nodes, cluster row,
 * simulated Ceph); the new nodes are ready nodes with sandbox machines.
 */
let api: TestApi;
let worker: RunningWorker;
let activities: ReturnType<typeof createActivities>;

beforeAll(async () => {
  api = await startTestApi();
  worker = await startTestWorker(api.config, api.db);
  activities = createActivities({
    db: api.db,
    config: api.config,
    logger: createLogger('silent'),
    drivers: createDriverRegistry({ db: api.db, config: api.config }),
  });
});

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
});

const waitFor = (id: string, until?: (op: any) => boolean) =>
  waitForOperation(api, id, { ...(until ? { until } : {}), timeoutMs: 90_000 });

let n = 0;
const tag = () => `${(process.pid % 200) + 20}.${++n}`;

/** A ready node (not a member) with a sandbox machine, powered on. */
const readyNode = (prefix: string, i: number, net: string, speed = 0) =>
  sandboxNode(api, {
    hostname: `${prefix}-${i}`,
    ip: `10.${net}.${i + 1}`,
    ipmi: `11.${net}.${i + 1}`,
    i,
    status: 'ready',
    speed,
  });

/** A 3-host size-3 sandbox cluster (2 OSDs a host) backfilling at `speed`, plus `extra` ready nodes. */
async function cluster(opts: { extra: number; speed: number }) {
  const { db } = api;
  const net = tag();
  const prefix = `ex-${n}-${newId('cluster').slice(-5).toLowerCase()}`;
  const members = [];
  for (let i = 0; i < 3; i++) members.push(await readyNode(prefix, i, net));
  const extra = [];
  for (let i = 3; i < 3 + opts.extra; i++) extra.push(await readyNode(prefix, i, net));
  const clusterId = await sandboxCluster(api, { name: prefix, members, osdsPerHost: 2, speed: opts.speed });
  await activities.refreshClusterState({ clusterId });
  const state = async () => (await getSandboxCephState(db, clusterId))!;
  return { clusterId, name: prefix, members, extra, state };
}

const expand = (clusterId: string, body: unknown, query = '') =>
  api.request('POST', `/v1/clusters/${clusterId}/nodes${query}`, { body });

async function nodeRow(id: string) {
  return api.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function operationsOf(clusterId: string) {
  return api.db.selectFrom('operations').select(['id', 'type']).where('cluster_id', '=', clusterId).execute();
}

describe('add hosts: dry run and refusals', () => {
  it('dry run: the plan names the hosts, the capacity before and after and the weight steps; nothing changes', async () => {
    const c = await cluster({ extra: 1, speed: 0 });
    const r = await expand(c.clusterId, { node_ids: [c.extra[0]!.id] }, '?dry_run=true');
    expect(r.status).toBe(200);
    const plan = r.body.data;
    expect(plan.type).toBe('cluster.expand');
    expect(plan.would_run).toBe(true);
    expect(plan.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'mark_provisioning',
      'power_on',
      'wait_ssh',
      'add_hosts',
      'create_osds',
      'raise_weights',
      'record_state',
    ]);
    expect(plan.facts.hosts).toEqual([
      { node_id: c.extra[0]!.id, hostname: c.extra[0]!.hostname, osd_devices: c.extra[0]!.drives.map((d) => d.device) },
    ]);
    expect(plan.facts.capacity_gb_after).toBe(plan.facts.capacity_gb_before + plan.facts.capacity_gb_added);
    const steps = plan.facts.weight_steps as { fraction: number; misplaced: number }[];
    expect(steps.length).toBeGreaterThan(1);
    expect(steps[steps.length - 1]!.fraction).toBe(1);
    for (const s of steps) expect(s.misplaced).toBeLessThanOrEqual(0.0501);
    // Nothing changed: the node is still ready and in no cluster, no operation was recorded.
    expect(await nodeRow(c.extra[0]!.id)).toMatchObject({ status: 'ready', cluster_id: null });
    expect(await operationsOf(c.clusterId)).toEqual([]);
    expect((await c.state()).hosts).toHaveLength(3);
  });

  it('refuses (409, nothing started) when the cluster would still be nearfull after the move, saying by how much', async () => {
    const c = await cluster({ extra: 1, speed: 0 });
    // Every OSD 95 % full as last recorded, and the new node brings one small drive.
    const small = [{ ...c.extra[0]!.drives[0]!, size_gb: 100 }];
    await api.db
      .updateTable('nodes')
      .set({ drives: json(small) })
      .where('id', '=', c.extra[0]!.id)
      .execute();
    await api.db
      .updateTable('osds')
      .set({ used_gb: sql<number>`floor(capacity_gb * 0.95)` })
      .where('cluster_id', '=', c.clusterId)
      .execute();
    const dry = await expand(c.clusterId, { node_ids: [c.extra[0]!.id] }, '?dry_run=true');
    expect(dry.status).toBe(200);
    expect(dry.body.data.would_run).toBe(false);
    expect(dry.body.data.refusals.map((x: any) => x.code)).toContain('insufficient_capacity');
    const r = await expand(c.clusterId, { node_ids: [c.extra[0]!.id] });
    expect(r.status).toBe(409);
    // The same code as a host removal's capacity refusal (docs/api.md).
    expect(r.body.error.code).toBe('insufficient_capacity');
    expect(r.body.error.message).toMatch(/would still be \d+(\.\d)? % full .* Add at least \d+ GB more raw capacity/);
    expect(await nodeRow(c.extra[0]!.id)).toMatchObject({ status: 'ready', cluster_id: null });
    expect(await operationsOf(c.clusterId)).toEqual([]);
  });

  it('refuses a member node, an unknown node, another account, and bad input; nothing changes', async () => {
    const c = await cluster({ extra: 1, speed: 0 });
    const member = await expand(c.clusterId, { node_ids: [c.members[1]!.id] });
    expect(member.status).toBe(409);
    expect(member.body.error.code).toBe('node_in_cluster');
    const unknown = await expand(c.clusterId, { node_ids: [newId('node')] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('node_not_found');
    for (const body of [
      { node_ids: [] },
      {},
      { node_ids: ['x'] },
      { node_ids: [c.extra[0]!.id], max_misplaced_ratio: 2 },
    ]) {
      const bad = await expand(c.clusterId, body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.error.code).toBe('validation_error');
    }
    const other = await api.newAccount();
    const foreign = await api.request('POST', `/v1/clusters/${c.clusterId}/nodes`, {
      body: { node_ids: [c.extra[0]!.id] },
      key: other.keys.test,
    });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('cluster_not_found');
    expect(JSON.stringify(foreign.body)).not.toContain(c.extra[0]!.hostname);
    expect(await nodeRow(c.extra[0]!.id)).toMatchObject({ status: 'ready', cluster_id: null });
    expect(await operationsOf(c.clusterId)).toEqual([]);
  });
});

describe('add hosts: the operation', () => {
  it('paused before the first weight step the new OSDs hold nothing at weight 0; resumed, the weights rise in bounded steps to full and the nodes are online members', async () => {
    const c = await cluster({ extra: 1, speed: 0 });
    const node = c.extra[0]!;
    const r = await expand(c.clusterId, { node_ids: [node.id] });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({ cluster_id: c.clusterId, node_ids: [node.id], status: 'pending' });
    const id = r.body.data.operation_id;
    const p = await api.request('POST', `/v1/operations/${id}/pause`, { body: { reason: 'check the new host' } });
    expect(p.status).toBe(200);
    // The pause takes effect at the first safe point, before the first weight step: the row says paused there.
    await expect
      .poll(
        async () =>
          (await api.db.selectFrom('operations').select('status').where('id', '=', id).executeTakeFirstOrThrow())
            .status,
        { timeout: 60_000 },
      )
      .toBe('paused');
    const paused = await waitFor(id, (op) => op.status === 'paused' || TERMINAL.includes(op.status));
    expect(paused.status).toBe('paused');
    expect(paused.current_step).toBe('raise_weights');
    expect(paused.logs.map((l: any) => l.message)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Paused by request: check the new host. No new weight step starts'),
      ]),
    );
    // The hosts are added and their OSDs exist at weight 0: no data has moved to them.
    const s = await c.state();
    const newOsds = s.osds.filter((o) => o.host === node.hostname);
    expect(newOsds.length).toBe(node.drives.length);
    for (const o of newOsds) expect(o.crush_weight).toBe(0);
    // Another cluster-wide request is refused while it holds the cluster.
    const busy = await api.request('POST', `/v1/clusters/${c.clusterId}/osds/0/reweight`, { body: { weight: 0.5 } });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('resource_busy');

    expect((await api.request('POST', `/v1/operations/${id}/resume`)).status).toBe(200);
    const op = await waitFor(id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.type).toBe('cluster.expand');
    expect(op.steps.map((x: any) => [x.name, x.status])).toEqual(
      [
        'preflight',
        'mark_provisioning',
        'power_on',
        'wait_ssh',
        'add_hosts',
        'create_osds',
        'raise_weights',
        'record_state',
      ].map((name) => [name, 'completed']),
    );
    const stepLogs = op.logs.filter((l: any) => /^weight step \d+\/\d+/.test(l.message));
    expect(stepLogs.length).toBe(op.result.weight_steps.length);
    expect(stepLogs.length).toBeGreaterThan(1);
    for (const l of stepLogs) {
      const misplaced = Number(/\(([\d.]+) % misplaced by this step\)/.exec(l.message)![1]);
      expect(misplaced).toBeLessThanOrEqual(5.01);
    }
    const after = await c.state();
    expect(after.hosts.map((h) => h.hostname)).toContain(node.hostname);
    const created = after.osds.filter((o) => o.host === node.hostname);
    expect(created.length).toBe(node.drives.length);
    for (const o of created) {
      const full = Math.round(((node.drives.find((d) => d.device === o.device)!.size_gb * 1e9) / 2 ** 40) * 1e5) / 1e5;
      expect(o.crush_weight).toBeCloseTo(full, 4);
    }
    expect(await nodeRow(node.id)).toMatchObject({ status: 'online', cluster_id: c.clusterId });
    const osds = (await api.request('GET', `/v1/clusters/${c.clusterId}/osds?per_page=100`)).body.data;
    expect(osds.filter((o: any) => o.node_id === node.id).map((o: any) => o.weight)).toEqual(created.map(() => 1));
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
    await recordHistory(api.client, op.temporal.workflow_id, 'expandClusterWorkflow--paused-resumed-completed');
  });

  it('cancel while the weights rise: the new OSDs go back to weight 0, the hosts stay in the cluster, the nodes online members saying why', async () => {
    const c = await cluster({ extra: 1, speed: 1.5 });
    const node = c.extra[0]!;
    const r = await expand(c.clusterId, { node_ids: [node.id] });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const stepped = await waitFor(
      id,
      (op) =>
        TERMINAL.includes(op.status) ||
        (op.current_step === 'raise_weights' && op.logs.some((l: any) => l.message.startsWith('weight step 2/'))),
    );
    // Progress moves inside raise_weights (6 of 8 steps done before it) with each weight step (at most 20).
    expect(stepped.progress).toBeGreaterThan(75);
    const mid = await c.state();
    expect(mid.osds.filter((o) => o.host === node.hostname).some((o) => o.crush_weight > 0)).toBe(true);
    const cancel = await api.request('POST', `/v1/operations/${id}/cancel`);
    expect(cancel.status).toBeLessThan(300);
    const op = await waitFor(id);
    expect(op.status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^undone: CRUSH weights of the new OSDs back to 0/)]),
    );
    const after = await c.state();
    const created = after.osds.filter((o) => o.host === node.hostname);
    expect(created.length).toBeGreaterThan(0);
    for (const o of created) expect(o.crush_weight).toBe(0);
    expect(after.hosts.map((h) => h.hostname)).toContain(node.hostname);
    const row = await nodeRow(node.id);
    expect(row).toMatchObject({ status: 'online', cluster_id: c.clusterId });
    expect(row.status_reason).toMatch(/expansion cancelled: in the cluster with OSDs at CRUSH weight 0/);
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
    await recordHistory(api.client, op.temporal.workflow_id, 'expandClusterWorkflow--cancelled-in-raise-weights');
  });

  it('terminated from the Web UI while the weights rise: the settler puts the new OSDs back to weight 0 and leaves the nodes online members saying what to check', async () => {
    const c = await cluster({ extra: 1, speed: 1.5 });
    const node = c.extra[0]!;
    const r = await expand(c.clusterId, { node_ids: [node.id] });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const running = await waitFor(
      id,
      (op) =>
        TERMINAL.includes(op.status) ||
        (op.current_step === 'raise_weights' && op.logs.some((l: any) => l.message.startsWith('weight step 1/'))),
    );
    expect(running.status).toBe('in_progress');
    const mid = await c.state();
    expect(mid.osds.filter((o) => o.host === node.hostname).some((o) => o.crush_weight > 0)).toBe(true);
    await api.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');

    const result = await api.client.workflow.execute(settleOperationsWorkflow, {
      taskQueue: api.config.temporal.taskQueue,
      workflowId: `expand-settle-test/${api.account.accountId}/${id}`,
      args: [{ accountId: api.account.accountId }],
    });
    expect(result.settled).toContain(id);
    const after = await c.state();
    const created = after.osds.filter((o) => o.host === node.hostname);
    expect(created.length).toBeGreaterThan(0);
    for (const o of created) expect(o.crush_weight).toBe(0);
    const row = await nodeRow(node.id);
    expect(row).toMatchObject({ status: 'online', cluster_id: c.clusterId });
    expect(row.status_reason).toContain(`check whether the cluster lists ${node.hostname}`);
    const op = (await api.request('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
  });
});
