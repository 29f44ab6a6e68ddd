import { describe, expect, it } from 'vitest';
import { enterMaintenancePlan, exitMaintenancePlan, type MaintenanceRecord } from '../../lib/plans/maintenance.planner';
import type { NodeFacts } from '../../lib/plans/reboot-node.planner';

/** The maintenance planners (issue 13 #1): which steps the enter and exit workflows run, and the refusals. */
const node = (over: Partial<NodeFacts> = {}): NodeFacts => ({
  nodeId: 'node_1',
  hostname: 'stor1',
  environment: 'sandbox',
  clusterId: 'clus_1',
  held: false,
  status: 'online',
  ...over,
});

const record = (over: Partial<MaintenanceRecord> = {}): MaintenanceRecord => ({
  clusterId: 'clus_1',
  hostname: 'stor1',
  osdIds: [3, 4],
  nooutSet: true,
  nooutFound: false,
  poweredOff: true,
  operationId: 'op_1',
  enteredAt: '2026-12-05T08:00:00.000Z',
  ...over,
});

describe('enter maintenance plan', () => {
  it('a member: ok-to-stop gate, noout, OSDs stopped, power off when asked, then the mark', () => {
    const plan = enterMaintenancePlan({ node: node(), osdIds: [3, 4] }, { powerOff: true });
    expect(plan.would_run).toBe(true);
    expect(plan.steps.map((s) => s.name)).toEqual([
      'preflight',
      'set_noout',
      'stop_osds',
      'power_off',
      'mark_maintenance',
    ]);
    expect(plan.steps[0]!.checks).toContain('ceph osd ok-to-stop 3 4');
    expect(enterMaintenancePlan({ node: node(), osdIds: [3] }, { powerOff: false }).steps.map((s) => s.name)).toEqual([
      'preflight',
      'set_noout',
      'stop_osds',
      'mark_maintenance',
    ]);
  });

  it('a node in no cluster: no Ceph step', () => {
    const plan = enterMaintenancePlan(
      { node: node({ clusterId: null, status: 'ready' }), osdIds: [] },
      { powerOff: false },
    );
    expect(plan.steps.map((s) => s.name)).toEqual(['preflight', 'mark_maintenance']);
  });

  it('refuses: already in maintenance, held, not ready/online, not ok to stop (with the reason)', () => {
    const codes = (n: NodeFacts, ok?: { ok: boolean; reason: string | null }) =>
      enterMaintenancePlan({ node: n, osdIds: [3], ...(ok ? { okToStop: ok } : {}) }, { powerOff: false }).refusals.map(
        (r) => r.code,
      );
    expect(codes(node({ status: 'maintenance' }))).toEqual(['node_in_maintenance']);
    expect(codes(node({ held: true }))).toEqual(['node_held']);
    expect(codes(node({ status: 'provisioning' }))).toEqual(['invalid_state']);
    expect(codes(node(), { ok: false, reason: '2 PGs would become inactive' })).toEqual(['not_ok_to_stop']);
    const r = enterMaintenancePlan(
      { node: node(), osdIds: [3], okToStop: { ok: false, reason: '2 PGs would become inactive' } },
      { powerOff: false },
    );
    expect(r.would_run).toBe(false);
    expect(r.refusals[0]!.message).toBe('Ceph says osd.3 are not ok to stop: 2 PGs would become inactive.');
  });
});

describe('exit maintenance plan', () => {
  it('a member with OSDs: power on, SSH, OSDs, noout, clean, clear; facts from the record', () => {
    const plan = exitMaintenancePlan({ node: node({ status: 'maintenance' }), record: record() });
    expect(plan.would_run).toBe(true);
    expect(plan.steps.map((s) => s.name)).toEqual([
      'preflight',
      'power_on',
      'wait_ssh',
      'start_osds',
      'wait_osds_up',
      'unset_noout',
      'wait_clean',
      'clear_maintenance',
    ]);
    expect(plan.facts).toMatchObject({ osds: [3, 4], powered_off: true, noout_set_by_maintenance: true });
  });

  it("an operator's noout found at entry is left: the plan says so", () => {
    const plan = exitMaintenancePlan({
      node: node({ status: 'maintenance' }),
      record: record({ nooutSet: false, nooutFound: true }),
    });
    expect(plan.steps.find((s) => s.name === 'unset_noout')!.description).toContain('left as it was');
  });

  it('refuses a node not in maintenance', () => {
    const plan = exitMaintenancePlan({ node: node(), record: null });
    expect(plan.would_run).toBe(false);
    expect(plan.refusals).toEqual([
      { code: 'invalid_state', message: 'Node stor1 is online, not in maintenance; there is nothing to exit.' },
    ]);
  });
});
