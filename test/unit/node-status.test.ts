import { describe, expect, it } from 'vitest';
import { NODE_STATUSES } from '../../db/database';
import { isServing } from '../../lib/plans/node-status';
import { rebootPlan, type RebootFacts } from '../../lib/plans/reboot-node.planner';
import { upgradePlan, type UpgradeFacts } from '../../lib/plans/upgrade-cluster.planner';

// Node statuses in the seed's vocabulary (SPEC §2) and the planners that run inside workflows: they
// read statuses from activity results, where recorded histories still say `active` (lib/node-status.ts).

describe('node statuses', () => {
  it('the API enum is the seed vocabulary: online and offline, no active, maintenance (issue 13) last', () => {
    expect([...NODE_STATUSES]).toEqual([
      'pending',
      'ready',
      'provisioning',
      'online',
      'offline',
      'error',
      'maintenance',
    ]);
  });

  it('isServing: online, and active as recorded before the rename; nothing else', () => {
    expect(isServing('online')).toBe(true);
    expect(isServing('active')).toBe(true);
    for (const s of ['offline', 'ready', 'pending', 'provisioning', 'error', 'maintenance', null, undefined])
      expect(isServing(s)).toBe(false);
  });

  const hosts = ['h1', 'h2', 'h3', 'h4'];
  const upgradeFacts = (statusOf: (h: string) => string): UpgradeFacts => ({
    clusterId: 'clus_x',
    cephVersion: 'reef',
    health: 'HEALTH_OK',
    mons: hosts.slice(0, 3),
    monsInQuorum: hosts.slice(0, 3),
    mgrActive: 'h1',
    mgrStandbys: ['h2'],
    hosts: hosts.map((h, i) => ({
      hostname: h,
      nodeId: `node_${i}`,
      nodeStatus: statusOf(h),
      held: false,
      osdIds: [i],
      osdsDown: [],
      mon: i < 3,
      mgr: i < 2,
    })),
    daemons: [],
    noAutoscale: false,
  });
  const upgrade = (f: UpgradeFacts) =>
    upgradePlan(f, { targetVersion: 'squid', mode: 'upgrade', maxConcurrent: 1, osPackages: false }).plan.refusals;

  it('an upgrade refuses an offline member by name (its OSDs still up), accepts online and a recorded active', () => {
    const refused = upgrade(upgradeFacts((h) => (h === 'h3' ? 'offline' : 'online')));
    const offline = refused.find((r) => r.code === 'host_offline');
    expect(offline?.message).toBe('Host h3 (node offline) is offline; an upgrade needs every host online.');
    expect(upgrade(upgradeFacts(() => 'online')).map((r) => r.code)).not.toContain('host_offline');
    expect(upgrade(upgradeFacts(() => 'active')).map((r) => r.code)).not.toContain('host_offline');
  });

  const reboot = (status: string) =>
    rebootPlan(
      {
        node: {
          nodeId: 'node_1',
          hostname: 'stor1',
          environment: 'sandbox',
          clusterId: 'clus_1',
          held: false,
          status: status as RebootFacts['node']['status'],
        },
        osdIds: [0],
      },
      { method: 'graceful', drainOsds: true },
    ).refusals;

  it('a reboot refuses an offline node; takes an online one and one recorded as active', () => {
    expect(reboot('offline')).toEqual([
      { code: 'invalid_state', message: 'Node stor1 is offline; only ready or online nodes are rebooted.' },
    ]);
    expect(reboot('online')).toEqual([]);
    expect(reboot('active')).toEqual([]);
  });

  it('a reboot refuses a node in maintenance with node_in_maintenance', () => {
    expect(reboot('maintenance')).toEqual([
      { code: 'node_in_maintenance', message: 'Node stor1 is in maintenance; end maintenance first.' },
    ]);
  });
});
