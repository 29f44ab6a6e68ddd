import { describe, expect, it } from 'vitest';
import { placementAfter, removeHostPlan, type RemoveHostFacts } from '../../lib/plans/remove-host.planner';

const TB = 1e12;

/** Four hosts, two 1 TB OSDs each, `usedPerOsd` bytes on each, mons on a b c, mgrs on a b. */
function facts(over: Partial<RemoveHostFacts> = {}, usedPerOsd = 0.1 * TB): RemoveHostFacts {
  const hosts = ['a', 'b', 'c', 'd'];
  return {
    clusterId: 'clus_x',
    clusterName: 'prod',
    nodeId: 'node_b',
    host: 'b',
    adminNodeId: 'node_a',
    failureDomain: 'host',
    osds: hosts.flatMap((h, i) =>
      [0, 1].map((j) => ({
        id: i * 2 + j,
        host: h,
        up: true,
        crush_weight: 0.9095,
        used_bytes: usedPerOsd,
        size_bytes: TB,
      })),
    ),
    hosts,
    pools: [{ name: 'rbd', width: 3 }],
    replicationFactor: 3,
    mons: ['a', 'b', 'c'],
    mgrs: ['a', 'b'],
    upHosts: ['a', 'c', 'd'],
    ...over,
  };
}

describe('removeHostPlan', () => {
  it('plans a removal that fits: mons and mgrs move to the spare host, the host OSDs drained', () => {
    const p = removeHostPlan(facts());
    expect(p.would_run).toBe(true);
    expect(p.refusals).toEqual([]);
    expect(p.steps.map((s) => s.name)).toEqual([
      'preflight',
      'move_mons',
      'move_mgrs',
      'drain_osds',
      'safe_to_destroy',
      'purge_osds',
      'remove_host',
      'release_node',
    ]);
    expect(p.facts).toMatchObject({
      host_osds: [2, 3],
      used_gb: 800,
      remaining_capacity_gb: 6000,
      remaining_usable_gb: 5100,
      failure_domains_left: 3,
      mons_after: ['a', 'c', 'd'],
      mgrs_after: ['a', 'c'],
    });
  });

  it('refuses with figures when the data would not fit below nearfull on the remaining hosts', () => {
    // 8 OSDs × 0.7 TB = 5.6 TB stored; 6 TB left × 0.85 = 5.1 TB usable: 0.5 TB short.
    const p = removeHostPlan(facts({}, 0.7 * TB));
    expect(p.would_run).toBe(false);
    expect(p.refusals).toHaveLength(1);
    expect(p.refusals[0]!.code).toBe('insufficient_capacity');
    expect(p.refusals[0]!.message).toContain('5600 GB stored');
    expect(p.refusals[0]!.message).toContain('6000 GB of OSDs left');
    expect(p.refusals[0]!.message).toContain('500 GB short');
    expect(p.refusals[0]!.message).toContain('93 % full');
  });

  it('refuses when a small remaining host cannot take its one copy of each PG, although the sum below nearfull would', () => {
    // Left: a (2 × 0.2 TB), c and d (2 × 2 TB each); size 3 on 3 hosts: each holds a third of the raw data.
    const sizes: Record<string, number> = { a: 0.2 * TB, b: 2 * TB, c: 2 * TB, d: 2 * TB };
    const osdsOf = (usedPerOsd: (h: string) => number) =>
      ['a', 'b', 'c', 'd'].flatMap((h, i) =>
        [0, 1].map((j) => ({
          id: i * 2 + j,
          host: h,
          up: true,
          crush_weight: 1,
          used_bytes: usedPerOsd(h),
          size_bytes: sizes[h]!,
        })),
      );
    // 1.2 TB raw: 0.4 TB per host, but a has 0.34 TB below nearfull (8.4 TB × 0.85 = 7.14 TB in sum).
    const p = removeHostPlan(facts({ osds: osdsOf((h) => (h === 'a' ? 0.1 * TB : 0.1667 * TB)) }));
    expect(p.would_run).toBe(false);
    expect(p.refusals.map((r) => r.code)).toEqual(['insufficient_capacity']);
    expect(p.refusals[0]!.message).toContain('each host must take up to 400 GB');
    expect(p.refusals[0]!.message).toContain('a (340 GB below the nearfull ratio 0.85)');
    expect(p.refusals[0]!.message).toContain('60 GB short');
    // With a fourth remaining host the copies have somewhere else to go: it fits.
    const five = facts({
      hosts: ['a', 'b', 'c', 'd', 'e'],
      osds: [
        ...osdsOf((h) => (h === 'a' ? 0.1 * TB : 0.1667 * TB)),
        { id: 8, host: 'e', up: true, crush_weight: 1, used_bytes: 0, size_bytes: 2 * TB },
      ],
    });
    expect(removeHostPlan(five).refusals).toEqual([]);
    // Under a rack failure domain hosts are not the unit copies spread over: only the sum is checked.
    expect(
      removeHostPlan(facts({ failureDomain: 'rack', osds: osdsOf(() => 0.15 * TB) })).refusals.map((r) => r.code),
    ).not.toContain('insufficient_capacity');
  });

  it('refuses when fewer failure domains remain than the widest pool (erasure k+m) needs, by how many', () => {
    const p = removeHostPlan(
      facts({
        pools: [
          { name: 'rbd', width: 3 },
          { name: 'ec', width: 4 },
        ],
      }),
    );
    expect(p.refusals.map((r) => r.code)).toEqual(['insufficient_failure_domains']);
    expect(p.refusals[0]!.message).toContain('3 host(s) holding data');
    expect(p.refusals[0]!.message).toContain('pool ec keeps 4');
    expect(p.refusals[0]!.message).toContain('1 host(s) short');
  });

  it('refuses the admin node', () => {
    const p = removeHostPlan(facts({ nodeId: 'node_a', host: 'a' }));
    expect(p.refusals.map((r) => r.code)).toEqual(['node_is_admin']);
  });

  it('refuses a mon host when no other up host can take its mon and fewer than 3 would remain', () => {
    const p = removeHostPlan(
      facts({
        hosts: ['a', 'b', 'c'],
        osds: facts().osds.filter((o) => o.host !== 'd'),
        upHosts: ['a', 'c'],
        pools: [{ name: 'rbd', width: 2 }],
      }),
    );
    expect(p.refusals.map((r) => r.code)).toEqual(['mon_quorum_at_risk']);
  });

  it('a host with no daemons: mons and mgrs stay where they are', () => {
    const p = removeHostPlan(facts({ nodeId: 'node_d', host: 'd', upHosts: ['a', 'b', 'c'] }));
    expect(p.would_run).toBe(true);
    expect(p.facts).toMatchObject({ mons_after: ['a', 'b', 'c'], mgrs_after: ['a', 'b'], host_osds: [6, 7] });
  });
});

describe('placementAfter', () => {
  it('replaces the host by the first up host without the daemon', () => {
    expect(placementAfter(['a', 'b', 'c'], 'b', ['a', 'c', 'e', 'd'])).toEqual(['a', 'c', 'd']);
  });
  it('shrinks when no spare host is up', () => {
    expect(placementAfter(['a', 'b', 'c'], 'b', ['a', 'c'])).toEqual(['a', 'c']);
  });
});
