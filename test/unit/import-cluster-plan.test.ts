import { describe, expect, it } from 'vitest';
import { importClusterPlan, importRequestRefusals, type ImportDiscovery } from '../../lib/plans/import-cluster.planner';

const members = ['ceph-a', 'ceph-b', 'ceph-c', 'spare'].map((hostname, i) => ({ nodeId: `node_${i}`, hostname }));

function discovery(over: Partial<ImportDiscovery> = {}): ImportDiscovery {
  return {
    fsid: '0f1e2d3c-0000-4000-8000-000000000001',
    health: 'HEALTH_WARN',
    versionCounts: { '16.2.15': 7, '16.2.14': 2 },
    cephHosts: ['ceph-a', 'ceph-b', 'ceph-c'],
    osdCount: 6,
    pools: [
      { name: 'rbd', type: 'replicated', size: 2, crush_rule_id: 1 },
      { name: 'images', type: 'replicated', size: 2, crush_rule_id: 1 },
      { name: 'scratch', type: 'replicated', size: 3, crush_rule_id: 0 },
      { name: 'ec', type: 'erasure', size: 4, crush_rule_id: 2 },
    ],
    crushRules: [
      { id: 0, name: 'replicated_rule', failure_domain: 'host' },
      { id: 1, name: 'by-rack', failure_domain: 'rack' },
      { id: 2, name: 'ec', failure_domain: 'host' },
    ],
    monsInQuorum: ['ceph-a', 'ceph-b', 'ceph-c'],
    monsTotal: 3,
    ...over,
  };
}

describe('importClusterPlan', () => {
  it('records what Ceph has: the most common version, the failure domain and size of most replicated pools, idle members', () => {
    const { refusals, layout } = importClusterPlan(members, discovery(), null);
    expect(refusals).toEqual([]);
    expect(layout).toEqual({
      cephVersion: '16.2.15',
      otherVersions: ['16.2.14'],
      failureDomain: 'rack',
      replicationFactor: 2,
      idleMembers: ['spare'],
      nodeOfHost: { 'ceph-a': 'node_0', 'ceph-b': 'node_1', 'ceph-c': 'node_2' },
    });
  });

  it('falls back to host and 3 without user replicated pools', () => {
    const { layout } = importClusterPlan(
      members,
      discovery({ pools: [{ name: '.mgr', type: 'replicated', size: 2, crush_rule_id: 1 }] }),
      null,
    );
    expect(layout).toMatchObject({ failureDomain: 'host', replicationFactor: 3 });
  });

  it('refuses hosts that are no member (exact names, as CRUSH and the OSD rows use them)', () => {
    const { refusals, layout } = importClusterPlan(
      members,
      discovery({ cephHosts: ['CEPH-A', 'ceph-b', 'ceph-c', 'ceph-d.example.com'] }),
      null,
    );
    expect(layout).toBeNull();
    expect(refusals.map((r) => r.code)).toEqual(['unknown_hosts']);
    expect(refusals[0]!.message).toContain('CEPH-A, ceph-d.example.com');
  });

  it('refuses a cluster already managed, and one without daemon metadata', () => {
    expect(importClusterPlan(members, discovery(), 'clus_other').refusals).toEqual([
      {
        code: 'already_imported',
        message: 'Ceph cluster 0f1e2d3c-0000-4000-8000-000000000001 is already managed as clus_other.',
      },
    ]);
    expect(
      importClusterPlan(members, discovery({ versionCounts: {}, cephHosts: [] }), null).refusals.map((r) => r.code),
    ).toEqual(['invalid_state']);
  });
});

describe('importRequestRefusals', () => {
  const node = (over: Record<string, unknown> = {}) => ({
    nodeId: 'node_1',
    hostname: 'a',
    ipAddress: '10.0.0.1',
    status: 'ready',
    held: false,
    clusterId: null,
    rack: null,
    zone: null,
    drives: [],
    ...over,
  });
  it('accepts ready free nodes and names each problem', () => {
    expect(
      importRequestRefusals({ clusterId: null, nameTakenBy: null, missingNodeIds: [], nodes: [node()] }, 'x'),
    ).toEqual([]);
    const r = importRequestRefusals(
      {
        clusterId: null,
        nameTakenBy: 'clus_1',
        missingNodeIds: ['node_9'],
        nodes: [
          node({ held: true }),
          node({ nodeId: 'node_2', clusterId: 'clus_2' }),
          node({ nodeId: 'node_3', hostname: 'b', status: 'pending' }),
        ],
      },
      'x',
    );
    expect(r.map((x) => x.code)).toEqual([
      'node_not_found',
      'name_taken',
      'node_held',
      'node_in_cluster',
      'invalid_state',
      'invalid_state',
    ]);
    expect(r[5]!.message).toContain('Two nodes are named a');
  });
});
