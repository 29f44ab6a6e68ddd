import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxDriverSet, getSandboxCephState } from '../../drivers/sandbox';
import type { SandboxCephState } from '../../drivers/sandbox/sandbox-ceph-state';
import type { CephDriver } from '../../drivers/types';
import { json } from '../../db/database';
import { settleOperationsWorkflow } from '../../workflows/settle-operations.workflow';
import { monitorWorkflowId } from '../../workflows/contracts';
import { checkCodes, clusterHealth, startHarness, type Harness, until } from './cluster-harness';

/**
 * Issue 11: NF_OSD_WEIGHT_DRIFT — an OSD's CRUSH weight differs from what the last NodeFoundry
 * operation left it at while no operation runs — and the sandbox speed knob on the monitor's
 * interval. Real API + worker + Temporal + PostgreSQL with the sandbox drivers; weights are changed
 * by hand through the sandbox's Ceph (`ceph osd crush reweight` as an operator would type it),
 * drains are terminated from Temporal as from the Web UI.
 */
const INTERVAL_MS = 1000;
let h: Harness;
let clusterId: string;
let ceph: CephDriver;

beforeAll(async () => {
  // Tests run the instant sandbox (NF_SANDBOX_SPEED=0): the monitor's 1 s becomes the 250 ms floor.
  h = await startHarness({ NF_MONITOR_INTERVAL_MS: String(INTERVAL_MS), NF_MONITOR_ROUNDS_PER_RUN: '20' });
});

afterAll(async () => {
  await h?.close();
});

const health = () => clusterHealth(h, clusterId);
const codes = checkCodes;
const drift = (hl: any) => hl.checks.find((c: any) => c.code === 'NF_OSD_WEIGHT_DRIFT');
const weightOf = async (osdId: number) =>
  (await getSandboxCephState(h.db, clusterId))!.osds.find((o) => o.id === osdId)!.crush_weight;
const expectedOf = async (osdId: number) =>
  (
    await h.db
      .selectFrom('osds')
      .select('expected_crush_weight')
      .where('cluster_id', '=', clusterId)
      .where('osd_id', '=', osdId)
      .executeTakeFirstOrThrow()
  ).expected_crush_weight;

/** Waits for `n` more monitor rounds after the one `hl` shows (observed_at moves every round). */
async function roundsAfter(hl: any, n: number): Promise<any> {
  let seen = Date.parse(hl.observed_at);
  let last = hl;
  for (let i = 0; i < n; i++) {
    last = await until('a monitor round', async () => {
      const x = await health();
      return Date.parse(x.observed_at) > seen ? x : undefined;
    });
    seen = Date.parse(last.observed_at);
  }
  return last;
}

async function events(type: string): Promise<any[]> {
  const r = await h.api('GET', `/v1/events?type=${type}&cluster_id=${clusterId}&per_page=100`);
  expect(r.status).toBe(200);
  return r.body.data;
}

/** Backfill in the simulated Ceph takes `speed` × its nominal time from now on (drains last long enough to terminate). */
async function slowBackfill(speed: number): Promise<void> {
  const state = (await getSandboxCephState(h.db, clusterId)) as SandboxCephState;
  await h.db
    .updateTable('sandbox_ceph')
    .set({ state: json({ ...state, recovery_delay_ms: Math.round(5_000 * speed) }) })
    .where('cluster_id', '=', clusterId)
    .execute();
}

/** Starts a drain of `osdId` through the API and terminates its workflow once it waits for the drain (weight 0). */
async function terminatedDrain(osdId: number, beforeTerminate?: (operationId: string) => Promise<void>) {
  const r = await h.api('POST', `/v1/clusters/${clusterId}/osds/${osdId}/reweight`, { weight: 0 });
  expect(r.status).toBe(202);
  const id = r.body.data.operation_id as string;
  const running = await h.waitForOperation(id, (o) => o.current_step === 'wait_drain');
  expect(await weightOf(osdId)).toBe(0);
  if (beforeTerminate) await beforeTerminate(id);
  await h.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
  return id;
}

/** OSDs an earlier test drained (a later one picks another). */
const drained: number[] = [];

/**
 * The in OSD holding the most PGs, not in `exclude`: a drain of an OSD without PGs ends at once (nothing
 * to move), so a test that terminates a drain while it waits picks one with data. The simulated
 * placement decides which OSDs hold PGs, so the test asks rather than naming one.
 */
async function busiestOsd(exclude: readonly number[]): Promise<number> {
  const candidates = (await ceph.osds())
    .filter((o) => o.in && o.crush_weight > 0 && o.pgs > 0 && !exclude.includes(o.id))
    .sort((a, b) => b.pgs - a.pgs || a.id - b.id);
  expect(candidates.length).toBeGreaterThan(0);
  return candidates[0]!.id;
}

let settles = 0;
async function settle(): Promise<string[]> {
  settles += 1;
  const r = await h.client.workflow.execute(settleOperationsWorkflow, {
    taskQueue: h.config.temporal.taskQueue,
    workflowId: `settle-test/${h.accountId}/weights-${settles}`,
    args: [{ accountId: h.accountId }],
  });
  return r.settled;
}

describe('cluster monitor: OSD weight drift (NF_OSD_WEIGHT_DRIFT)', () => {
  it('a sandbox cluster: the monitor runs at the speed-scaled interval; the create records each OSD weight as expected', async () => {
    const nodes = [];
    for (let i = 0; i < 4; i++) nodes.push(await h.registerNode());
    const c = await h.api('POST', '/v1/clusters', {
      name: 'weights',
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

    // A pool, so that OSDs hold PGs and a drain has data to move.
    const pool = await h.api('POST', `/v1/clusters/${clusterId}/pools`, { name: 'rbd-data', type: 'replicated' });
    expect(pool.status).toBe(202);
    expect((await h.waitForOperation(pool.body.data.operation_id)).status).toBe('completed');

    // The monitor's input: NF_MONITOR_INTERVAL_MS 1000 × NF_SANDBOX_SPEED 0 → the 250 ms floor.
    const history = await h.client.workflow.getHandle(monitorWorkflowId(clusterId)).fetchHistory();
    const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(JSON.parse(Buffer.from(payload.data!).toString('utf8'))).toMatchObject({ clusterId, intervalMs: 250 });
    // …and it sleeps that long between rounds (each round's timer in its history).
    await until('a monitor round', async () => {
      const hl = await health();
      return hl.observed_at && hl.mons.total > 0 ? hl : undefined;
    });
    const timers = await until('two monitor timers', async () => {
      const events = (await h.client.workflow.getHandle(monitorWorkflowId(clusterId)).fetchHistory()).events ?? [];
      const t = events.filter((e) => e.timerStartedEventAttributes).map((e) => e.timerStartedEventAttributes!);
      return t.length >= 2 ? t : undefined;
    });
    for (const t of timers) {
      const ms =
        Number(t.startToFireTimeout!.seconds ?? 0) * 1000 + Math.round((t.startToFireTimeout!.nanos ?? 0) / 1e6);
      expect(ms).toBe(250);
    }

    const rows = await h.db
      .selectFrom('osds')
      .select(['osd_id', 'crush_weight', 'expected_crush_weight'])
      .where('cluster_id', '=', clusterId)
      .orderBy('osd_id')
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const r of rows) {
      expect(r.crush_weight).toBeGreaterThan(0);
      expect(r.expected_crush_weight).toBe(r.crush_weight);
    }
    expect(codes(await health())).not.toContain('NF_OSD_WEIGHT_DRIFT');
  });

  it('a weight changed by hand → NF_OSD_WEIGHT_DRIFT naming the OSD and both weights, not repaired; the same weight through the API → adopted, cleared', async () => {
    const original = await weightOf(1);
    const half = Math.round((original / 2) * 1e5) / 1e5;
    await ceph.crushReweight(1, half);
    const raised = await until('NF_OSD_WEIGHT_DRIFT', async () => {
      const hl = await health();
      return drift(hl) ? hl : undefined;
    });
    expect(drift(raised)).toMatchObject({ source: 'nodefoundry', severity: 'HEALTH_WARN' });
    expect(drift(raised).summary).toContain(`osd.1 (`);
    expect(drift(raised).summary).toContain(`is at ${half} TiB, NodeFoundry left it at ${original} TiB`);
    // The OSD as the API lists it shows Ceph's weight (the monitor records it every round).
    const osd1 = (await h.api('GET', `/v1/clusters/${clusterId}/osds`)).body.data.find((o: any) => o.osd_id === 1);
    expect(osd1.crush_weight).toBe(half);

    // Two more rounds: not NodeFoundry's change, so not undone; still reported.
    const later = await roundsAfter(raised, 2);
    expect(await weightOf(1)).toBe(half);
    expect(await expectedOf(1)).toBe(original);
    expect(drift(later).since).toBe(drift(raised).since);
    const raisedEvents = (await events('cluster.health_check_raised')).filter(
      (e) => e.data.code === 'NF_OSD_WEIGHT_DRIFT',
    );
    expect(raisedEvents).toHaveLength(1);
    expect(raisedEvents[0].data.summary).toContain(`${half} TiB`);

    // The operator wants that weight: the same reweight through the API makes it NodeFoundry's.
    const adopt = await h.api('POST', `/v1/clusters/${clusterId}/osds/1/reweight`, { weight: 0.5 });
    expect(adopt.status).toBe(202);
    expect((await h.waitForOperation(adopt.body.data.operation_id)).status).toBe('completed');
    const clear = await until('NF_OSD_WEIGHT_DRIFT cleared', async () => {
      const hl = await health();
      return !drift(hl) ? hl : undefined;
    });
    expect(clear.checks.filter((c: any) => c.source === 'nodefoundry')).toEqual([]);
    expect(await weightOf(1)).toBe(half);
    expect(await expectedOf(1)).toBe(half);
    expect((await events('cluster.health_check_cleared')).some((e) => e.data.code === 'NF_OSD_WEIGHT_DRIFT')).toBe(
      true,
    );
  });

  it('a reweight through the API that completes: its target is what NodeFoundry left, no drift', async () => {
    const original = await weightOf(2);
    const r = await h.api('POST', `/v1/clusters/${clusterId}/osds/2/reweight`, { weight: 0.5 });
    expect(r.status).toBe(202);
    expect((await h.waitForOperation(r.body.data.operation_id)).status).toBe('completed');
    const now = await weightOf(2);
    expect(now).toBeLessThan(original);
    expect(await expectedOf(2)).toBeCloseTo(now, 4);
    const after = await roundsAfter(await health(), 2);
    expect(codes(after)).not.toContain('NF_OSD_WEIGHT_DRIFT');
    expect(await weightOf(2)).toBe(now);
  });

  it('a drain terminated from Temporal → the monitor restores the recorded original (ledger evidence), closes the entry undone, the event says so', async () => {
    await slowBackfill(3);
    const osd = await busiestOsd([]);
    drained.push(osd);
    const original = await weightOf(osd);
    const id = await terminatedDrain(osd);
    // No settler runs here: the operation row stays in_progress; the monitor goes by Temporal's word.
    await until(`the monitor to restore osd.${osd}`, async () => (await weightOf(osd)) === original, 10_000);
    // The repair restores the weight, then closes the ledger entry: wait for both (bounded).
    const ledger = await until('the ledger entry closed', async () => {
      const rows = await h.db
        .selectFrom('operation_changes')
        .select(['kind', 'state', 'note'])
        .where('operation_id', '=', id)
        .where('kind', '=', 'crush_weight')
        .execute();
      return rows.every((r) => r.state !== 'open') ? rows : undefined;
    });
    expect(ledger).toEqual([
      {
        kind: 'crush_weight',
        state: 'undone',
        note: 'restored by the cluster monitor: the operation that changed it no longer runs',
      },
    ]);
    expect(await expectedOf(osd)).toBe(original);
    // The round that repaired writes its event when it records the round (just after the repair).
    await until('the repair event', async () => {
      const repairs = (await events('cluster.health_check_cleared'))
        .filter((e) => e.data.code === 'NF_DRIFT_REPAIRED')
        .map((e) => e.data.repaired.join(' '));
      return repairs.some(
        (x) => x.includes(`CRUSH weight of osd.${osd} restored to ${original} TiB (was 0 TiB)`) && x.includes(id),
      );
    });

    // The settler then ends the operation (locks released) and finds the entry already undone.
    expect(await settle()).toEqual([id]);
    expect((await h.api('GET', `/v1/operations/${id}`)).body.data.status).toBe('failed');
    const after = await roundsAfter(await health(), 2);
    expect(codes(after)).not.toContain('NF_OSD_WEIGHT_DRIFT');
    expect(await weightOf(osd)).toBe(original);
  });

  it('a drain terminated whose ledger entry is gone (the settler could not undo it) → reported once no operation runs, not repaired', async () => {
    const osd = await busiestOsd(drained);
    const original = await weightOf(osd);
    // The evidence is lost while the drain still runs (as when a settler's undo failed and left it
    // for an operator): the monitor has nothing that proves the 0 is NodeFoundry's leftover.
    const id = await terminatedDrain(osd, async (operationId) => {
      await h.db
        .updateTable('operation_changes')
        .set({ state: 'left', note: 'settler: restoring failed', closed_at: new Date() })
        .where('operation_id', '=', operationId)
        .where('kind', '=', 'crush_weight')
        .execute();
    });
    // While the operation's row is open it counts as running: no report yet, and no repair.
    const during = await roundsAfter(await health(), 2);
    expect(codes(during)).not.toContain('NF_OSD_WEIGHT_DRIFT');
    expect(await weightOf(osd)).toBe(0);

    expect(await settle()).toEqual([id]);
    const raised = await until('NF_OSD_WEIGHT_DRIFT', async () => {
      const hl = await health();
      return drift(hl) ? hl : undefined;
    });
    expect(drift(raised).summary).toContain(`osd.${osd} (`);
    expect(drift(raised).summary).toContain(`is at 0 TiB, NodeFoundry left it at ${original} TiB`);
    const later = await roundsAfter(raised, 2);
    expect(drift(later)).toBeTruthy();
    expect(await weightOf(osd)).toBe(0);

    // The operator's recovery (docs/operators.md §Drift repair): put the weight back by hand.
    await ceph.crushReweight(osd, original);
    await until('NF_OSD_WEIGHT_DRIFT cleared', async () => !drift(await health()));
  });
});
