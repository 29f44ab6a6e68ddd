import { describe, expect, it } from 'vitest';
import {
  createClusterPlan,
  type ClusterNodeFacts,
  type CreateClusterFacts,
  type CreateClusterParams,
} from '../../lib/plans/create-cluster.planner';
import { deleteClusterPlan } from '../../lib/plans/delete-cluster.planner';
import {
  createPoolPlan,
  parseErasureProfile,
  poolSpec,
  type PoolClusterFacts,
  type PoolParams,
} from '../../lib/plans/create-pool.planner';

// The pool and cluster planners (create, delete) the API, the dry run and the workflows share.

describe('create-pool planner', () => {
  const cluster = (over: Partial<PoolClusterFacts> = {}): PoolClusterFacts => ({
    clusterId: 'clus_1',
    status: 'HEALTH_OK',
    failureDomain: 'host',
    failureDomains: 3,
    existingPools: ['rbd'],
    ...over,
  });
  const pool = (over: Partial<PoolParams> = {}): PoolParams => ({
    name: 'data',
    type: 'replicated',
    replicationFactor: 3,
    erasureProfile: null,
    pgAutoscale: true,
    application: 'rbd',
    ...over,
  });
  const codes = (f: PoolClusterFacts, p: PoolParams) => createPoolPlan(f, p).refusals.map((r) => r.code);

  it('erasure profiles are k2–12 m1–4 by name; anything else is not a profile', () => {
    expect(parseErasureProfile('k4m2')).toEqual({ k: 4, m: 2 });
    expect(parseErasureProfile('k12m4')).toEqual({ k: 12, m: 4 });
    for (const bad of ['k1m1', 'k13m1', 'k4m5', 'k4m0', 'K4M2', 'k4m2 ', '4+2'])
      expect(parseErasureProfile(bad)).toBeNull();
  });

  it('a replicated pool keeps a majority as min_size and uses the failure-domain rule; an erasure pool needs k+m domains', () => {
    expect(poolSpec(pool(), 'host')).toMatchObject({
      size: 3,
      minSize: 2,
      crushRule: 'nf-replicated-host',
      cephProfile: null,
      pgNum: 32,
    });
    expect(poolSpec(pool({ replicationFactor: 2 }), 'rack')).toMatchObject({
      size: 2,
      minSize: 1,
      crushRule: 'nf-replicated-rack',
    });
    expect(poolSpec(pool({ type: 'erasure', erasureProfile: 'k4m2' }), 'host')).toMatchObject({
      size: 6,
      minSize: 5,
      k: 4,
      m: 2,
      cephProfile: 'nf-k4m2-host',
      crushRule: null,
    });
    expect(poolSpec(pool({ type: 'erasure', erasureProfile: null }), 'host')).toMatchObject({
      k: 2,
      m: 1,
      size: 3,
      minSize: 2,
    });
  });

  it('the steps follow the pool type and whether an application is named', () => {
    const names = (p: PoolParams) => createPoolPlan(cluster(), p).steps.map((s) => s.name);
    expect(names(pool())).toEqual([
      'preflight',
      'create_pool',
      'set_size',
      'enable_application',
      'set_autoscale',
      'verify',
      'record',
    ]);
    expect(names(pool({ type: 'erasure', erasureProfile: 'k2m1', application: null }))).toEqual([
      'preflight',
      'create_profile',
      'create_pool',
      'set_autoscale',
      'verify',
      'record',
    ]);
  });

  it('refuses a cluster not running, a taken name, size 1, and more copies or chunks than failure domains', () => {
    expect(codes(cluster(), pool())).toEqual([]);
    expect(codes(cluster({ status: 'HEALTH_WARN' }), pool())).toEqual([]);
    expect(codes(cluster({ status: 'CREATING' }), pool())).toEqual(['invalid_state']);
    expect(codes(cluster(), pool({ name: 'rbd' }))).toEqual(['name_taken']);
    expect(codes(cluster(), pool({ replicationFactor: 1 }))).toEqual(['validation_error']);
    expect(codes(cluster(), pool({ replicationFactor: 4 }))).toEqual(['insufficient_failure_domains']);
    expect(codes(cluster(), pool({ type: 'erasure', erasureProfile: 'k4m2' }))).toEqual([
      'insufficient_failure_domains',
    ]);
    expect(createPoolPlan(cluster(), pool({ replicationFactor: 4 })).would_run).toBe(false);
  });
});

describe('delete-cluster planner', () => {
  it('refuses nothing (any state may be deleted) and names the hosts stopped and the devices wiped', () => {
    const plan = deleteClusterPlan({
      clusterId: 'clus_1',
      name: 'prod',
      status: 'ERROR',
      fsid: null,
      nodes: [
        { nodeId: 'node_1', hostname: 'stor1', status: 'online', held: false },
        { nodeId: 'node_2', hostname: 'stor2', status: 'error', held: true },
      ],
      osdDevices: { stor1: ['/dev/sdb', '/dev/sdc'], stor2: [] },
      pools: ['rbd'],
    });
    expect(plan).toMatchObject({ type: 'cluster.delete', would_run: true, refusals: [] });
    expect(plan.steps.map((s) => s.name)).toEqual([
      'preflight',
      'mark_deleting',
      'power_on',
      'wait_ssh',
      'stop_ceph',
      'zap_devices',
      'remove_cluster',
      'release_nodes',
    ]);
    expect(plan.steps.find((s) => s.name === 'zap_devices')!.description).toBe(
      'Wipe the OSD devices (ceph-volume lvm zap --destroy): stor1: /dev/sdb, /dev/sdc.',
    );
    expect(plan.steps.find((s) => s.name === 'stop_ceph')!.description).toContain('stor1, stor2');
  });

  it('a cluster that never got an OSD wipes nothing', () => {
    const plan = deleteClusterPlan({
      clusterId: 'clus_2',
      name: 'new',
      status: 'CREATING',
      fsid: null,
      nodes: [],
      osdDevices: {},
      pools: [],
    });
    expect(plan.steps.find((s) => s.name === 'zap_devices')!.description).toBe('No OSD device was created.');
  });
});

describe('create-cluster planner', () => {
  const node = (i: number, over: Partial<ClusterNodeFacts> = {}): ClusterNodeFacts => ({
    nodeId: `node_${i}`,
    hostname: `stor${i}`,
    ipAddress: `10.0.0.${i}`,
    status: 'ready',
    held: false,
    clusterId: null,
    rack: `r${((i - 1) % 3) + 1}`,
    zone: null,
    drives: [
      { device: '/dev/sdb', size_gb: 4000, type: 'hdd', smart_ok: true },
      { device: '/dev/sdc', size_gb: 4000, type: 'hdd', smart_ok: i !== 2 },
    ],
    ...over,
  });
  const params = (over: Partial<CreateClusterParams> = {}): CreateClusterParams => ({
    name: 'prod',
    nodeIds: [],
    cephVersion: 'squid',
    failureDomain: 'host',
    replicationFactor: 3,
    ...over,
  });
  const facts = (nodes: ClusterNodeFacts[], over: Partial<CreateClusterFacts> = {}): CreateClusterFacts => ({
    clusterId: null,
    nameTakenBy: null,
    nodes,
    missingNodeIds: [],
    ...over,
  });
  const codes = (f: CreateClusterFacts, p = params()) => createClusterPlan(f, p).refusals.map((r) => r.code);

  it('the first node bootstraps; mons and mgrs spread round-robin over the failure domains; SMART failures hold no OSD', () => {
    const nodes = [1, 2, 3, 4, 5, 6].map((i) => node(i));
    const { layout, would_run } = createClusterPlan(facts(nodes), params({ failureDomain: 'rack' }));
    expect(would_run).toBe(true);
    expect(layout).toMatchObject({
      adminHost: 'stor1',
      crushRule: 'nf-replicated-rack',
      failureDomains: ['r1', 'r2', 'r3'],
      minSize: 2,
    });
    // Six nodes: 5 mons, 3 mgrs, one per rack before any rack gets a second.
    expect(layout.mons).toEqual(['stor1', 'stor2', 'stor3', 'stor4', 'stor5']);
    expect(layout.mgrs).toEqual(['stor1', 'stor2', 'stor3']);
    expect(layout.hosts.find((h) => h.hostname === 'stor2')).toMatchObject({
      osdDevices: ['/dev/sdb'],
      skippedDevices: ['/dev/sdc'],
    });
  });

  it('three nodes: 3 mons, 2 mgrs', () => {
    const { layout } = createClusterPlan(facts([1, 2, 3].map((i) => node(i))), params());
    expect(layout.mons).toHaveLength(3);
    expect(layout.mgrs).toHaveLength(2);
  });

  it('refuses a taken name, unknown, held, busy or not-ready nodes, no healthy drive, too few nodes or domains', () => {
    const three = [1, 2, 3].map((i) => node(i));
    expect(codes(facts(three))).toEqual([]);
    expect(codes(facts(three, { nameTakenBy: 'clus_other' }))).toEqual(['name_taken']);
    expect(codes(facts(three.slice(0, 2), { missingNodeIds: ['node_9'] }))).toEqual(['node_not_found']);
    expect(codes(facts([node(1, { held: true }), node(2), node(3)]))).toEqual(['node_held']);
    expect(codes(facts([node(1, { clusterId: 'clus_other' }), node(2), node(3)]))).toEqual(['node_in_cluster']);
    expect(codes(facts([node(1, { status: 'pending' }), node(2), node(3)]))).toEqual(['invalid_state']);
    expect(codes(facts([node(1, { drives: [] }), node(2), node(3)]))).toEqual(['invalid_state']);
    expect(codes(facts([node(1), node(2, { hostname: 'stor1' }), node(3)]))).toContain('invalid_state');
    expect(codes(facts(three.slice(0, 2)), params({ replicationFactor: 2 }))).toEqual(['validation_error']);
    expect(codes(facts([node(1), node(2), node(3, { rack: 'r1' })]), params({ failureDomain: 'rack' }))).toEqual([
      'insufficient_failure_domains',
    ]);
    expect(codes(facts(three), params({ failureDomain: 'zone' }))).toContain('insufficient_failure_domains');
  });
});
