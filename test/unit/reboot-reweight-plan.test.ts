import { describe, expect, it } from 'vitest';
import { rebootPlan, type RebootFacts } from '../../lib/plans/reboot-node.planner';
import { reweightPlan, roundWeight, targetCrushWeight } from '../../lib/plans/reweight-osd.planner';

// The planners the dry run and the real run share (the workflow runs the steps they return and
// refuses what they refuse): pure functions of the facts read and the request's parameters.

describe('reboot planner', () => {
  const member = (over: Partial<RebootFacts['node']> = {}, osdIds = [0, 1]): RebootFacts => ({
    node: {
      nodeId: 'node_1',
      hostname: 'stor1',
      environment: 'sandbox',
      clusterId: 'clus_1',
      held: false,
      status: 'online',
      ...over,
    },
    osdIds,
  });
  const steps = (f: RebootFacts, drainOsds = true) =>
    rebootPlan(f, { method: 'graceful', drainOsds }).steps.map((s) => s.name);

  it('a cluster member with OSDs: noout around the power cycle, its OSDs stopped and waited for, then PGs clean', () => {
    const plan = rebootPlan(member(), { method: 'graceful', drainOsds: true });
    expect(plan).toMatchObject({ type: 'node.reboot', would_run: true, refusals: [] });
    expect(plan.steps.map((s) => s.name)).toEqual([
      'preflight',
      'set_noout',
      'stop_osds',
      'power_off',
      'power_on',
      'wait_ssh',
      'wait_osds_up',
      'unset_noout',
      'wait_clean',
    ]);
    expect(plan.steps[0]!.checks).toContain('ceph osd ok-to-stop 0 1');
  });

  it('drain_osds false keeps the OSDs running; a host without OSDs waits for none', () => {
    expect(steps(member(), false)).not.toContain('stop_osds');
    expect(steps(member(), false)).toContain('wait_osds_up');
    expect(steps(member({}, []))).toEqual([
      'preflight',
      'set_noout',
      'power_off',
      'power_on',
      'wait_ssh',
      'unset_noout',
      'wait_clean',
    ]);
  });

  it('a node in no cluster is only power-cycled and waited for', () => {
    expect(steps(member({ clusterId: null }))).toEqual(['preflight', 'power_off', 'power_on', 'wait_ssh']);
  });

  it('refuses a held node, a node not ready/online, and OSDs Ceph says are not ok to stop', () => {
    const codes = (f: RebootFacts) => rebootPlan(f, { method: 'hard', drainOsds: true }).refusals.map((r) => r.code);
    expect(codes(member({ held: true }))).toEqual(['node_held']);
    expect(codes(member({ status: 'provisioning' }))).toEqual(['invalid_state']);
    const notOk = { ...member(), okToStop: { ok: false, reason: '2 PGs would become inactive' } };
    expect(codes(notOk)).toEqual(['not_ok_to_stop']);
    expect(rebootPlan(notOk, { method: 'hard', drainOsds: true })).toMatchObject({
      would_run: false,
      refusals: [{ message: expect.stringContaining('2 PGs would become inactive') }],
    });
  });
});

describe('reweight planner', () => {
  const DEVICE = 1.81898;
  const facts = (over: Record<string, unknown> = {}) => ({
    clusterId: 'clus_1',
    replicationFactor: 3,
    failureDomain: 'host',
    osd: { id: 3, host: 'stor2', up: true, crush_weight: DEVICE, device_weight: DEVICE, pgs: 40 },
    osds: [0, 3, 6, 9].map((id, i) => ({ id, host: `stor${i + 1}`, crush_weight: DEVICE, up: true })),
    otherDrains: [] as { operationId: string; osdId: number }[],
    okToStop: { ok: true, reason: null as string | null },
    unplaceable: [] as string[],
    ...over,
  });
  const codes = (f: ReturnType<typeof facts>, weight: number) =>
    reweightPlan(f, { osdId: 3, weight }).refusals.map((r) => r.code);

  it('weights are fractions of the device weight, kept to five decimals like Ceph shows them', () => {
    expect(targetCrushWeight(0.5, DEVICE)).toBe(0.90949);
    expect(targetCrushWeight(0, DEVICE)).toBe(0);
    expect(roundWeight(1 / 3)).toBe(0.33333);
  });

  it('a drain: record, weight 0, watch PGs to 0, safe-to-destroy, record state; every PG of the OSD moves', () => {
    const plan = reweightPlan(facts(), { osdId: 3, weight: 0 });
    expect(plan).toMatchObject({
      would_run: true,
      refusals: [],
      facts: { drain: true, target_crush_weight: 0, pgs_to_move: 40, failure_domains_left: 3, original_weight: 1 },
    });
    expect(plan.steps.map((s) => s.name)).toEqual([
      'preflight',
      'set_crush_weight',
      'wait_drain',
      'safe_to_destroy',
      'record_state',
    ]);
  });

  it('a reweight waits for backfill instead and moves its share of the PGs', () => {
    const plan = reweightPlan(facts(), { osdId: 3, weight: 0.5 });
    expect(plan.steps.map((s) => s.name)).toEqual(['preflight', 'set_crush_weight', 'wait_backfill', 'record_state']);
    expect(plan.facts).toMatchObject({ drain: false, target_crush_weight: 0.90949, pgs_to_move: 20 });
  });

  it('refuses a drain that would leave too few failure domains, counting the drains already running', () => {
    expect(codes(facts(), 0)).toEqual([]);
    const another = facts({ otherDrains: [{ operationId: 'op_other', osdId: 6 }] });
    expect(codes(another, 0)).toEqual(['insufficient_failure_domains']);
    // Only a drain empties an OSD: a reweight is not refused for it.
    expect(codes(another, 0.5)).toEqual([]);
  });

  it('refuses a drain Ceph says is not ok to stop, PGs already unplaceable, and an unknown OSD', () => {
    expect(codes(facts({ okToStop: { ok: false, reason: 'too few replicas' } }), 0)).toEqual(['not_ok_to_stop']);
    expect(codes(facts({ unplaceable: ['2.1f'] }), 0.5)).toEqual(['drain_cannot_finish']);
    expect(reweightPlan(facts({ osd: null }), { osdId: 3, weight: 0 })).toMatchObject({
      would_run: false,
      refusals: [{ code: 'osd_not_found' }],
      steps: [],
    });
  });
});
