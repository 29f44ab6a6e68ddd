import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { json } from '../../db/database';
import { createDriverRegistry } from '../../drivers';
import { createSandboxDriverSet, getSandboxCephState, setMachineFaults } from '../../drivers/sandbox';
import type { CephDriver } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import type { RunningWorker } from '../../worker/main';
import { recordHistory } from '../helpers/history';
import { startTestApi, type TestApi } from '../helpers/api';
import {
  sandboxCluster,
  sandboxNode,
  TERMINAL,
  waitForOperation,
  type SandboxNodeFixture,
} from '../helpers/sandbox-cluster';
import { startTestWorker } from '../helpers/worker';

/**
 * OSD reweights and drains end to end: HTTP API → Temporal → worker with the sandbox drivers →
 * PostgreSQL. Clusters are built as fixtures (machines, nodes, cluster row, simulated Ceph) at a
 * chosen simulated speed, so a drain takes a little real time where a test must catch it midway.
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

/** Polls the operation through the API; collects every progress value seen. */
const waitFor = (id: string, until?: (op: any) => boolean, seen: number[] = []) =>
  waitForOperation(api, id, { ...(until ? { until } : {}), timeoutMs: 60_000, seen });

let n = 0;

/**
 * A sandbox cluster of `hosts` nodes with `osdsPerHost` OSDs each, size 3 / min_size 2, whose Ceph
 * backfills at `speed` (0 = instant), its OSDs recorded in the osds table as a refresh leaves them.
 */
async function cluster(opts: { hosts: number; osdsPerHost: number; speed: number }) {
  const { db } = api;
  const accountId = api.account.accountId;
  const tag = `${process.pid % 200}.${++n}`;
  const suffix = newId('cluster').slice(-5).toLowerCase();
  const nodes: (SandboxNodeFixture & { devices: string[] })[] = [];
  for (let i = 0; i < opts.hosts; i++) {
    const node = await sandboxNode(api, {
      hostname: `rw-${n}-${i}-${suffix}`,
      ip: `10.${tag}.${i + 1}`,
      ipmi: `11.${tag}.${i + 1}`,
      i,
      status: 'online',
    });
    nodes.push({ ...node, devices: node.drives.slice(0, opts.osdsPerHost).map((d) => d.device) });
  }
  const clusterId = await sandboxCluster(api, {
    name: `rw-${n}`,
    members: nodes,
    osdsPerHost: opts.osdsPerHost,
    speed: opts.speed,
  });
  await activities.refreshClusterState({ clusterId });
  const ceph: CephDriver = createSandboxDriverSet(db, accountId).ceph({
    clusterId,
    admin: { host: nodes[0]!.ip, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
  });
  const weightOf = async (osdId: number) =>
    (await getSandboxCephState(db, clusterId))!.osds.find((o) => o.id === osdId)!.crush_weight;
  return { clusterId, nodes, ceph, weightOf };
}

const reweight = (clusterId: string, osdId: number, body: unknown, query = '') =>
  api.request('POST', `/v1/clusters/${clusterId}/osds/${osdId}/reweight${query}`, { body });

describe('OSD list', () => {
  it('lists the recorded OSDs by id with weight as a fraction of the device, pages and 404s', async () => {
    const c = await cluster({ hosts: 3, osdsPerHost: 2, speed: 0 });
    const r = await api.request('GET', `/v1/clusters/${c.clusterId}/osds?per_page=4`);
    expect(r.status).toBe(200);
    expect(r.body.meta).toEqual({ page: 1, per_page: 4, total: 6 });
    expect(r.body.data.map((o: any) => o.osd_id)).toEqual([0, 1, 2, 3]);
    const o = r.body.data[0];
    expect(o).toMatchObject({
      osd_id: 0,
      node_id: c.nodes[0]!.id,
      device: c.nodes[0]!.devices[0],
      status: 'up',
      in: true,
      weight: 1,
      reweight: 1,
      current_operation_id: null,
    });
    expect(o.capacity_gb).toBeGreaterThan(0);
    expect(o.pgs).toBeGreaterThan(0);
    expect(
      (await api.request('GET', `/v1/clusters/${c.clusterId}/osds?page=2&per_page=4`)).body.data.map(
        (x: any) => x.osd_id,
      ),
    ).toEqual([4, 5]);
    expect((await api.request('GET', `/v1/clusters/${newId('cluster')}/osds`)).body.error.code).toBe(
      'cluster_not_found',
    );
    // Another account's cluster does not exist for this one.
    const other = await api.newAccount();
    expect((await api.request('GET', `/v1/clusters/${c.clusterId}/osds`, { key: other.keys.test })).status).toBe(404);
  });
});

describe('OSD reweight / drain', () => {
  it('reweight 0.5: sets half the device weight, waits for backfill, records it', async () => {
    const c = await cluster({ hosts: 3, osdsPerHost: 2, speed: 0 });
    const before = await c.weightOf(2);
    const r = await reweight(c.clusterId, 2, { weight: 0.5 });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({ cluster_id: c.clusterId, osd_id: 2, weight: 0.5, status: 'pending' });
    const op = await waitFor(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.type).toBe('osd.reweight');
    expect(op.osd_id).toBe(2);
    expect(op.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['preflight', 'completed'],
      ['set_crush_weight', 'completed'],
      ['wait_backfill', 'completed'],
      ['record_state', 'completed'],
    ]);
    expect(op.result.original_crush_weight).toBe(before);
    expect(op.result.crush_weight).toBeCloseTo(before / 2, 4);
    expect(await c.weightOf(2)).toBeCloseTo(before / 2, 4);
    const s = await c.ceph.status();
    expect(s.pgs_active_clean).toBe(s.pgs_total);
    const listed = (await api.request('GET', `/v1/clusters/${c.clusterId}/osds`)).body.data.find(
      (o: any) => o.osd_id === 2,
    );
    expect(listed.weight).toBeCloseTo(0.5, 2);
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', op.id).execute()).toEqual(
      [],
    );
  });

  it('drain to 0: the PG count falls to 0 while progress rises, safe-to-destroy agrees, the original weight is in the result', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 1.5 });
    const original = await c.weightOf(5);
    const startPgs = (await c.ceph.pgPlacement([5])).osds[0]!.pgs;
    expect(startPgs).toBeGreaterThan(0);
    expect((await c.ceph.safeToDestroy([5])).safe).toEqual([]);
    const r = await reweight(c.clusterId, 5, { weight: 0 });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    // Midway: the OSD still holds some PGs, the cluster is backfilling and not healthy.
    const mid = await waitFor(id, (op) => op.current_step === 'wait_drain' && op.progress > 40);
    expect(mid.status).toBe('in_progress');
    const s = await c.ceph.status();
    expect(s.health).toBe('HEALTH_WARN');
    const placement = await c.ceph.pgPlacement([5]);
    expect(placement.states.map((x) => x.state)).toContain('active+remapped+backfilling');
    expect(placement.pg_temp).toBeGreaterThan(0);
    expect(placement.osds[0]!.pgs).toBeLessThan(startPgs);

    const progress: number[] = [];
    const op = await waitFor(id, undefined, progress);
    expect(op.status).toBe('completed');
    expect(op.progress).toBe(100);
    // Progress rose through the drain, never backwards.
    expect(progress.some((p) => p > 40 && p < 100)).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(op.result).toMatchObject({
      osd_id: 5,
      weight: 0,
      drained: true,
      original_crush_weight: original,
      crush_weight: 0,
      pgs_before: startPgs,
      pgs_after: 0,
      safe_to_destroy: true,
    });
    expect(op.result.original_weight).toBeCloseTo(1, 3);
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/recorded the original CRUSH weight of osd\.5/);
    expect(op.steps.map((x: any) => x.name)).toEqual([
      'preflight',
      'set_crush_weight',
      'wait_drain',
      'safe_to_destroy',
      'record_state',
    ]);

    expect(await c.weightOf(5)).toBe(0);
    expect((await c.ceph.pgPlacement([5])).osds[0]!.pgs).toBe(0);
    expect(await c.ceph.safeToDestroy([5])).toEqual({ safe: [5], reason: null });
    // Never marked out nor purged: it is still there, up and in, at weight 0.
    const osd5 = (await c.ceph.osds()).find((o) => o.id === 5)!;
    expect([osd5.up, osd5.in]).toEqual([true, true]);
    const clean = await c.ceph.status();
    expect([clean.health, clean.pgs_active_clean]).toEqual(['HEALTH_OK', clean.pgs_total]);
    const row = (await api.request('GET', `/v1/clusters/${c.clusterId}/osds`)).body.data.find(
      (o: any) => o.osd_id === 5,
    );
    expect([row.weight, row.pgs]).toEqual([0, 0]);
    await recordHistory(api.client, op.temporal.workflow_id, 'reweightOsdWorkflow--drain-completed');
  });

  it('cancel mid-drain restores the original weight and says so in the log', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const original = await c.weightOf(1);
    const r = await reweight(c.clusterId, 1, { weight: 0 });
    const id = r.body.data.operation_id;
    await waitFor(id, (op) => op.current_step === 'wait_drain' && op.progress > 40);
    expect(await c.weightOf(1)).toBe(0);
    expect((await api.request('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitFor(id);
    expect(op.status).toBe('cancelled');
    expect(op.steps.find((s: any) => s.name === 'wait_drain').status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      `undone: restore osd.1 CRUSH weight to ${original} TiB (the recorded original)`,
    );
    expect(await c.weightOf(1)).toBe(original);
    // The PGs that had moved come back; the OSD is not left empty.
    expect((await c.ceph.pgPlacement([1])).osds[0]!.pgs).toBeGreaterThan(0);
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
    await recordHistory(api.client, op.temporal.workflow_id, 'reweightOsdWorkflow--drain-cancelled');
  });

  it('a drain CRUSH can never finish (an EC pool needing every host) fails with drain_cannot_finish and restores the weight', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 1, speed: 0 });
    // An erasure pool k=2 m=2 across hosts: with 4 hosts it is clean; without osd.3's host it cannot be placed.
    await api.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('sandbox_ceph')
        .select('state')
        .where('cluster_id', '=', c.clusterId)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const s = row.state as any;
      s.pools = [
        {
          id: 2,
          name: 'ec22',
          type: 'erasure',
          size: 4,
          min_size: 3,
          pg_num: 32,
          crush_rule_id: 1,
          erasure_profile: 'ec22',
          applications: ['rgw'],
          pg_autoscale_mode: 'off',
        },
      ];
      s.crush_rules = [{ id: 1, name: 'ec22', failure_domain: 'host' }];
      s.erasure_profiles = [{ name: 'ec22', k: 2, m: 2, failure_domain: 'host' }];
      s.pg_num += 32;
      await trx
        .updateTable('sandbox_ceph')
        .set({ state: json(s) })
        .where('cluster_id', '=', c.clusterId)
        .execute();
    });
    const healthy = await c.ceph.status();
    expect(healthy.pgs_active_clean).toBe(healthy.pgs_total);
    const original = await c.weightOf(3);
    // The plan cannot see the EC pool's needs (the cluster keeps 3 replicas on 4 hosts): it would run.
    const plan = await reweight(c.clusterId, 3, { weight: 0 }, '?dry_run=true');
    expect(plan.body.data.would_run).toBe(true);

    const r = await reweight(c.clusterId, 3, { weight: 0 });
    const op = await waitFor(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('drain_cannot_finish');
    await recordHistory(api.client, op.temporal.workflow_id, 'reweightOsdWorkflow--failed-drain-cannot-finish');
    expect(op.error.message).toMatch(/2147483647/);
    expect(op.error.message).toMatch(/PGs 2\.[0-9a-f]+/);
    expect(op.error.message).not.toMatch(/PGs 1\./);
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      `undone: restore osd.3 CRUSH weight to ${original} TiB`,
    );
    expect(await c.weightOf(3)).toBe(original);
    const after = await c.ceph.status();
    expect(after.pgs_active_clean).toBe(after.pgs_total);
  });

  it('dry run: the plan with the weight it would record and the PGs to move; refuses a drain that leaves too few hosts; changes nothing', async () => {
    const c = await cluster({ hosts: 3, osdsPerHost: 1, speed: 0 });
    const original = await c.weightOf(0);
    const drain = await reweight(c.clusterId, 0, { weight: 0 }, '?dry_run=true');
    expect(drain.status).toBe(200);
    expect(drain.body.data.would_run).toBe(false);
    expect(drain.body.data.refusals.map((x: any) => x.code)).toEqual(['insufficient_failure_domains']);
    expect(drain.body.data.refusals[0].message).toMatch(/would leave PGs without enough failure domains/);
    const half = await reweight(c.clusterId, 0, { weight: 0.5 }, '?dry_run=true');
    expect(half.body.data.would_run).toBe(true);
    expect(half.body.data.steps.map((s: any) => s.name)).toEqual([
      'preflight',
      'set_crush_weight',
      'wait_backfill',
      'record_state',
    ]);
    expect(half.body.data.facts).toMatchObject({
      osd_id: 0,
      original_crush_weight: original,
      target_crush_weight: Math.round(original * 0.5 * 1e5) / 1e5,
    });
    expect(half.body.data.facts.pgs_to_move).toBeGreaterThan(0);
    expect(await c.weightOf(0)).toBe(original);
    expect((await api.request('GET', `/v1/operations?cluster_id=${c.clusterId}`)).body.data).toEqual([]);
    // The real run refuses exactly what the plan refused, before changing anything.
    const run = await reweight(c.clusterId, 0, { weight: 0 });
    const op = await waitFor(run.body.data.operation_id);
    expect([op.status, op.error.code]).toEqual(['failed', 'insufficient_failure_domains']);
    expect(op.steps.find((s: any) => s.name === 'set_crush_weight').status).toBe('skipped');
    expect(await c.weightOf(0)).toBe(original);
  });

  it('concurrent drains: at most 2 per cluster, the third is a 409 naming a running one', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const rs = await Promise.all([0, 1, 2].map((id) => reweight(c.clusterId, id, { weight: 0 })));
    expect(rs.map((r) => r.status).sort()).toEqual([202, 202, 409]);
    const accepted = rs.filter((r) => r.status === 202).map((r) => r.body.data.operation_id);
    const refused = rs.find((r) => r.status === 409)!;
    expect(refused.body.error.code).toBe('resource_busy');
    expect(accepted).toContain(refused.body.error.operation_id);
    expect(refused.body.error.message).toMatch(/all 2 slots/);
    for (const id of accepted) await api.request('POST', `/v1/operations/${id}/cancel`);
    for (const id of accepted) expect(TERMINAL).toContain((await waitFor(id)).status);
  });

  it('NF_DRAIN_SLOTS sets the limit: with 3, three drains run at once and the fourth is a 409; a 2-slot process counts all three', async () => {
    // A second API process on the same database and task queue, configured with three slots.
    const api3 = await startTestApi({ NF_DRAIN_SLOTS: '3', TEMPORAL_TASK_QUEUE: api.config.temporal.taskQueue });
    try {
      expect(api3.config.drainSlotsPerCluster).toBe(3);
      // Four OSDs of one host: one failure domain, so Ceph lets the three drains run together.
      const c = await cluster({ hosts: 4, osdsPerHost: 4, speed: 3 });
      const key = api.account.keys.test;
      const rs = await Promise.all(
        [0, 1, 2, 3].map((id) =>
          api3.request('POST', `/v1/clusters/${c.clusterId}/osds/${id}/reweight`, { key, body: { weight: 0 } }),
        ),
      );
      expect(rs.map((r) => r.status).sort()).toEqual([202, 202, 202, 409]);
      const accepted = rs.filter((r) => r.status === 202).map((r) => r.body.data.operation_id);
      const refused = rs.find((r) => r.status === 409)!;
      expect(refused.body.error.code).toBe('resource_busy');
      expect(accepted).toContain(refused.body.error.operation_id);
      expect(refused.body.error.message).toMatch(/all 3 slots/);
      for (const id of accepted)
        expect(
          (await waitFor(id, (op) => op.current_step === 'wait_drain' || TERMINAL.includes(op.status))).status,
        ).toBe('in_progress');
      // Slot 0 freed: two drains still hold slots 1 and 2. The default process (2 slots) counts
      // every held slot, so it refuses although slot 0 is free; the 3-slot process takes it.
      const slot0 = await api.db
        .selectFrom('operation_locks')
        .select('operation_id')
        .where('resource_id', '=', `${c.clusterId}/reweight-slot/0`)
        .executeTakeFirstOrThrow();
      await api.request('POST', `/v1/operations/${slot0.operation_id}/cancel`);
      expect((await waitFor(slot0.operation_id)).status).toBe('cancelled');
      const refusedOsd = rs.findIndex((r) => r.status === 409);
      const other = await reweight(c.clusterId, refusedOsd, { weight: 0 });
      expect([other.status, other.body.error?.code]).toEqual([409, 'resource_busy']);
      expect(other.body.error.message).toMatch(/all 2 slots/);
      const third = await api3.request('POST', `/v1/clusters/${c.clusterId}/osds/${refusedOsd}/reweight`, {
        key,
        body: { weight: 0 },
      });
      expect(third.status).toBe(202);
      const running = [...accepted.filter((id) => id !== slot0.operation_id), third.body.data.operation_id];
      for (const id of running) await api.request('POST', `/v1/operations/${id}/cancel`);
      for (const id of running) expect((await waitFor(id)).status).toBe('cancelled');
      const slots = await api.db
        .selectFrom('operation_locks')
        .selectAll()
        .where('resource_id', 'like', `${c.clusterId}/%`)
        .execute();
      expect(slots).toEqual([]);
    } finally {
      await api3.close();
    }
  });

  it('drains alongside each other only when Ceph says the drain set is ok to stop', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const first = await reweight(c.clusterId, 0, { weight: 0 });
    await waitFor(first.body.data.operation_id, (op) => op.current_step === 'wait_drain');
    // osd.2 lives on another host: emptying osd.0 and osd.2 together would leave PGs below min_size.
    const other = await reweight(c.clusterId, 2, { weight: 0 });
    expect(other.status).toBe(202);
    const refused = await waitFor(other.body.data.operation_id);
    expect([refused.status, refused.error.code]).toEqual(['failed', 'not_ok_to_stop']);
    expect(refused.error.message).toMatch(/osd\.0, osd\.2/);
    expect(await c.weightOf(2)).toBeGreaterThan(0);
    // osd.1 shares osd.0's host: one failure domain, ok to stop together; both drains finish.
    const sibling = await reweight(c.clusterId, 1, { weight: 0 });
    expect(sibling.status).toBe(202);
    const [a, b] = await Promise.all([waitFor(first.body.data.operation_id), waitFor(sibling.body.data.operation_id)]);
    expect([a.status, b.status]).toEqual(['completed', 'completed']);
    expect(b.logs.map((l: any) => l.message).join('\n')).toMatch(/draining alongside osd\.0/);
    expect([await c.weightOf(0), await c.weightOf(1)]).toEqual([0, 0]);
  });

  it('a drain and a reboot of a member exclude each other, both ways, with 409 naming the running operation', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const drain = await reweight(c.clusterId, 4, { weight: 0 });
    expect(drain.status).toBe(202);
    const reboot = await api.request('POST', `/v1/nodes/${c.nodes[1]!.id}/reboot`, { body: { method: 'hard' } });
    expect(reboot.status).toBe(409);
    expect(reboot.body.error.code).toBe('resource_busy');
    expect(reboot.body.error.operation_id).toBe(drain.body.data.operation_id);
    await api.request('POST', `/v1/operations/${drain.body.data.operation_id}/cancel`);
    await waitFor(drain.body.data.operation_id);

    // The other way: a reboot that hangs in power-off holds the cluster; no drain starts.
    await setMachineFaults(api.db, api.account.accountId, c.nodes[2]!.ipmi, { soft_off_ignored: true });
    const running = await api.request('POST', `/v1/nodes/${c.nodes[2]!.id}/reboot`, { body: {} });
    expect(running.status).toBe(202);
    const busy = await reweight(c.clusterId, 0, { weight: 0.5 });
    expect(busy.status).toBe(409);
    expect(busy.body.error.operation_id).toBe(running.body.data.operation_id);
    await api.request('POST', `/v1/operations/${running.body.data.operation_id}/cancel`);
    expect((await waitFor(running.body.data.operation_id)).status).toBe('cancelled');
    await setMachineFaults(api.db, api.account.accountId, c.nodes[2]!.ipmi, {});
    // Free again.
    const ok = await reweight(c.clusterId, 0, { weight: 0.5 });
    expect(ok.status).toBe(202);
    const done = await waitFor(ok.body.data.operation_id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
  });

  it('bad input is a 400 or 404 in the API error shape, and nothing changes', async () => {
    const c = await cluster({ hosts: 3, osdsPerHost: 1, speed: 0 });
    const original = await c.weightOf(1);
    for (const [body, field] of [
      [{ weight: 1.5 }, 'weight'],
      [{ weight: -0.1 }, 'weight'],
      [{}, 'weight'],
      [{ weight: '0.5' }, 'weight'],
      [{ weight: 0.5, force: true }, 'force'],
    ] as const) {
      const r = await reweight(c.clusterId, 1, body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'validation_error', request_id: expect.stringMatching(/^req_/) });
      expect(r.body.error.field ?? r.body.error.message).toContain(field);
    }
    const unknown = await reweight(c.clusterId, 99, { weight: 0.5 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'osd_not_found', request_id: expect.any(String) });
    expect((await reweight(c.clusterId, 99, { weight: 0.5 }, '?dry_run=true')).status).toBe(404);
    const noCluster = await reweight(newId('cluster'), 1, { weight: 0.5 });
    expect([noCluster.status, noCluster.body.error.code]).toEqual([404, 'cluster_not_found']);
    expect(
      (await api.request('POST', `/v1/clusters/${c.clusterId}/osds/abc/reweight`, { body: { weight: 0.5 } })).status,
    ).toBe(404);
    expect(await c.weightOf(1)).toBe(original);
    expect((await api.request('GET', `/v1/operations?cluster_id=${c.clusterId}`)).body.data).toEqual([]);
    expect(
      await api.db.selectFrom('operation_locks').selectAll().where('resource_id', 'like', `${c.clusterId}%`).execute(),
    ).toEqual([]);
  });
});
