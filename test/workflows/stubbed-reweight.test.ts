import { describe, expect, it } from 'vitest';
import {
  bookkeepingStubs,
  outcome,
  StubActivities,
  untilCancelled,
  withStubWorker,
  type Failure,
} from '../helpers/stub-worker';

/**
 * The drain (reweight to 0) over stubbed activities: on a failure at each step after the weight may
 * have changed, and on cancel, the recorded original CRUSH weight is restored. The stubs model the
 * OSD's CRUSH weight and its PGs.
 */

const ORIGINAL = 1.81898;

interface Osd {
  weight: number;
  pgs: number;
}

function drainStubs(osd: Osd, opts: { blockWatch?: boolean } = {}): StubActivities {
  return new StubActivities({
    ...bookkeepingStubs(),
    readReweightFacts: ({ clusterId, osdId }: { clusterId: string; osdId: number }) => ({
      clusterId,
      replicationFactor: 3,
      failureDomain: 'host',
      osd: { id: osdId, host: 'stor2', up: true, crush_weight: osd.weight, device_weight: ORIGINAL, pgs: osd.pgs },
      osds: [0, 3, 6, 9].map((id, i) => ({ id, host: `stor${i + 1}`, crush_weight: ORIGINAL, up: true })),
      otherDrains: [],
      okToStop: { ok: true, reason: null },
      unplaceable: [],
    }),
    setCrushWeight: ({ weight }: { weight: number }) => void (osd.weight = weight),
    watchBackfill: async () => {
      if (opts.blockWatch) return untilCancelled();
      // Each observation moves half of what is left.
      osd.pgs = osd.pgs > 1 ? Math.floor(osd.pgs / 2) : 0;
      return {
        pgs: osd.pgs,
        pgs_total: 128,
        pgs_active_clean: 128,
        pg_temp: 0,
        crush_weight: osd.weight,
        unplaceable: [],
        states: [],
        done: osd.pgs === 0,
      };
    },
    assertSafeToDestroy: () => undefined,
    refreshClusterState: () => undefined,
  });
}

async function startDrain(stubs: StubActivities, during?: (cancel: () => Promise<void>) => Promise<void>) {
  return withStubWorker(stubs, async (client, taskQueue) => {
    const operationId = `op_stub_${Math.random().toString(36).slice(2)}`;
    const handle = await client.workflow.start('reweightOsdWorkflow', {
      taskQueue,
      workflowId: `stub-drain-${operationId}`,
      args: [{ operationId, accountId: 'acct_stub', clusterId: 'clus_stub', osdId: 3, weight: 0 }],
    });
    const result = outcome(handle.result());
    if (during) await during(async () => void (await handle.cancel()));
    return result;
  });
}

describe('drain (reweight-osd to 0) workflow with stubbed activities', () => {
  it('the forward path: weight 0, PGs watched to 0, safe-to-destroy, state recorded', async () => {
    const osd = { weight: ORIGINAL, pgs: 40 };
    const stubs = drainStubs(osd);
    expect(await startDrain(stubs)).toMatchObject({
      status: 'completed',
      value: { drained: true, original_crush_weight: ORIGINAL, crush_weight: 0 },
    });
    expect(osd).toEqual({ weight: 0, pgs: 0 });
    const names = stubs.names();
    expect(names.slice(0, 3)).toEqual(['markOperationStarted', 'readReweightFacts', 'setCrushWeight']);
    expect(names.slice(-3)).toEqual(['assertSafeToDestroy', 'refreshClusterState', 'finishOperation']);
    expect(stubs.calls.filter((c) => c.name === 'setCrushWeight')).toHaveLength(1);
  });

  const cases: { step: string; activity: string; failure: Failure }[] = [
    // Ceph applied the weight but the reply was lost.
    { step: 'set_crush_weight', activity: 'setCrushWeight', failure: { type: 'command_failed', after: true } },
    { step: 'wait_drain', activity: 'watchBackfill', failure: { type: 'backfill_stalled' } },
    { step: 'safe_to_destroy', activity: 'assertSafeToDestroy', failure: { type: 'not_safe_to_destroy' } },
    { step: 'record_state', activity: 'refreshClusterState', failure: { type: 'internal_error' } },
  ];

  it.each(cases)('a failure at $step ($activity) restores the original weight', async ({ step, activity, failure }) => {
    const osd = { weight: ORIGINAL, pgs: 40 };
    const stubs = drainStubs(osd).fail(activity, failure);
    expect(await startDrain(stubs)).toEqual({ status: 'failed', type: failure.type });
    expect(osd.weight).toBe(ORIGINAL);
    expect(stubs.namesAfter(activity)).toEqual(['setCrushWeight', 'refreshClusterState', 'finishOperation']);
    expect(
      stubs.calls.filter((c) => c.name === 'setCrushWeight').map((c) => (c.args[0] as { weight: number }).weight),
    ).toEqual([0, ORIGINAL]);
    const snap = stubs.finalSnapshot();
    expect(snap).toMatchObject({ status: 'failed', error: { code: failure.type } });
    expect(snap.steps.find((s) => s.name === step)?.status).toBe('failed');
    expect(snap.logs.map((l) => l.message)).toContain(
      `undone: restore osd.3 CRUSH weight to ${ORIGINAL} TiB (the recorded original)`,
    );
  });

  it('a refused preflight changes no weight and undoes nothing', async () => {
    const osd = { weight: ORIGINAL, pgs: 40 };
    const stubs = drainStubs(osd).fail('readReweightFacts', { type: 'ceph_unavailable' });
    expect(await startDrain(stubs)).toEqual({ status: 'failed', type: 'ceph_unavailable' });
    expect(stubs.names()).toEqual(['markOperationStarted', 'readReweightFacts', 'finishOperation']);
    expect(osd.weight).toBe(ORIGINAL);
  });

  it('a cancel while PGs move out restores the original weight and ends cancelled', async () => {
    const osd = { weight: ORIGINAL, pgs: 40 };
    const stubs = drainStubs(osd, { blockWatch: true });
    const end = await startDrain(stubs, async (cancel) => {
      await stubs.waitForCall('watchBackfill');
      expect(osd.weight).toBe(0);
      await cancel();
    });
    expect(end).toEqual({ status: 'cancelled' });
    expect(osd.weight).toBe(ORIGINAL);
    expect(stubs.namesAfter('watchBackfill')).toEqual(['setCrushWeight', 'refreshClusterState', 'finishOperation']);
    const snap = stubs.finalSnapshot();
    expect(snap).toMatchObject({
      status: 'cancelled',
      error: { code: 'cancelled', message: 'The operation was cancelled; its changes were undone.' },
    });
    expect(snap.steps.find((s) => s.name === 'wait_drain')?.status).toBe('cancelled');
  });
});
