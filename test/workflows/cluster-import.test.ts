import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSandboxCephState } from '../../drivers/sandbox';
import { startHarness, type Harness } from './cluster-harness';

/**
 * POST /v1/clusters/import through the HTTP API with a sandbox key, a real worker, Temporal and
 * PostgreSQL: a cluster started by hand (the sandbox's unmanaged Ceph, POST /v1/sandbox/ceph-clusters)
 * is adopted, and then NodeFoundry's operations run on it. (test/lab/live-nodes.test.ts imports the
 * lab's real Ceph the same way.)
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ NF_WAIT_CEPH_MS: '4000', NF_WAIT_SSH_MS: '4000' });
});
afterAll(async () => {
  await h?.close();
});

async function nodes(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await h.registerNode());
  return out;
}

const ids = (ns: any[]) => ns.map((n) => n.id);
const clusterCount = async () => (await h.api('GET', '/v1/clusters')).body.meta.total as number;
const locksOf = (operationId: string) =>
  h.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', operationId).execute();

async function expectReleased(ns: any[]) {
  for (const n of ns)
    expect((await h.api('GET', `/v1/nodes/${n.id}`)).body.data).toMatchObject({ status: 'ready', cluster_id: null });
}

describe('import an existing cluster', () => {
  let ns: any[];
  let seeded: { fsid: string; hosts: string[]; osds: number };

  beforeAll(async () => {
    ns = await nodes(4);
    const r = await h.api('POST', '/v1/sandbox/ceph-clusters', {
      node_ids: ids(ns),
      ceph_version: 'reef',
      replication: 3,
    });
    expect(r.status).toBe(201);
    seeded = r.body.data;
    expect(seeded.hosts).toEqual(ns.map((n) => n.hostname));
    expect(seeded.osds).toBeGreaterThan(4);
    // Started by hand: the nodes are still free, no NodeFoundry cluster knows it.
    await expectReleased(ns);
  });

  it('refuses bad requests with a 4xx naming the field, and changes nothing', async () => {
    const base = { name: 'legacy', admin_node_id: ns[0].id, node_ids: ids(ns) };
    const cases: [unknown, number, string, string | undefined][] = [
      [
        { ...base, admin_node_id: 'node_01zzzzzzzzzzzzzzzzzzzzzzzz', node_ids: ids(ns) },
        400,
        'validation_error',
        'admin_node_id',
      ],
      [{ ...base, node_ids: [] }, 400, 'validation_error', 'node_ids'],
      [{ ...base, name: 'Not A Name' }, 400, 'validation_error', 'name'],
      [{ ...base, ceph_version: 'reef' }, 400, 'validation_error', undefined],
      [{ ...base, deployment: 'containers' }, 400, 'validation_error', 'deployment'],
      [{ ...base, node_ids: [...ids(ns), 'node_01zzzzzzzzzzzzzzzzzzzzzzzz'] }, 404, 'node_not_found', 'node_ids'],
    ];
    for (const [body, status, code, field] of cases) {
      const r = await h.api('POST', '/v1/clusters/import', body);
      expect([r.status, r.body.error.code], JSON.stringify(body)).toEqual([status, code]);
      if (field) expect(r.body.error.field).toBe(field);
    }
    expect(await clusterCount()).toBe(0);
    await expectReleased(ns);
  });

  it('refuses (unknown_hosts) a cluster with daemons on a host that is not among node_ids: no cluster left, nodes released', async () => {
    const r = await h.api('POST', '/v1/clusters/import', {
      name: 'legacy',
      admin_node_id: ns[0].id,
      node_ids: ids(ns.slice(0, 3)),
    });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({ name: 'legacy', status: 'IMPORTING' });
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('unknown_hosts');
    expect(op.error.message).toContain(ns[3].hostname);
    expect(op.steps.find((s: any) => s.name === 'record').status).toBe('skipped');
    expect((await h.api('GET', `/v1/clusters/${r.body.data.id}`)).status).toBe(404);
    expect(await clusterCount()).toBe(0);
    await expectReleased(ns);
    expect(await locksOf(op.id)).toEqual([]);
    await h.recordHistory(op.temporal.workflow_id, 'importClusterWorkflow--unknown-hosts');
  });

  it('adopts the cluster: fsid, version, OSDs and health recorded, members online; a second import of a member is refused', async () => {
    const r = await h.api('POST', '/v1/clusters/import', {
      name: 'legacy',
      admin_node_id: ns[1].id,
      node_ids: ids(ns),
      deployment: 'cephadm',
    });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.result).toMatchObject({
      cluster_id: r.body.data.id,
      fsid: seeded.fsid,
      failure_domain: 'host',
      replication_factor: 3,
      health: 'HEALTH_OK',
      osds: seeded.osds,
    });
    // One vocabulary (issue 12 #4): the release name, as for created clusters; the point version beside it.
    expect(op.result.ceph_version).toBe('reef');
    expect(op.result.ceph_point_version).toMatch(/^18\.2\.\d+$/);
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      `fsid ${seeded.fsid}: HEALTH_OK, ${seeded.osds} OSDs on 4 host(s)`,
    );
    // The result with the release name (patched 'import-result-release-name'); the history recorded
    // before it (importClusterWorkflow--adopt) stays to replay the old path.
    await h.recordHistory(op.temporal.workflow_id, 'importClusterWorkflow--adopt-release-name');

    const c = (await h.api('GET', `/v1/clusters/${r.body.data.id}`)).body.data;
    expect(c).toMatchObject({
      name: 'legacy',
      status: 'HEALTH_OK',
      fsid: seeded.fsid,
      admin_node_id: ns[1].id,
      node_count: 4,
      osd_count: seeded.osds,
      ceph_version: 'reef',
      ceph_point_version: op.result.ceph_point_version,
      // As the import said: later operations use cephadm's commands on this cluster.
      deployment: 'cephadm',
    });
    expect(c.nodes.map((n: any) => [n.hostname, n.status])).toEqual(ns.map((n) => [n.hostname, 'online']));
    const osds = (await h.api('GET', `/v1/clusters/${c.id}/osds?per_page=100`)).body.data;
    expect(osds).toHaveLength(seeded.osds);
    const nodeOf = new Map(ns.map((n) => [n.hostname, n.id]));
    for (const o of osds) expect(o.node_id).toBe(nodeOf.get(o.host));
    expect(await locksOf(op.id)).toEqual([]);
    // The simulated cluster is now this cluster's.
    expect((await getSandboxCephState(h.db, c.id))?.fsid).toBe(seeded.fsid);

    const again = await h.api('POST', '/v1/clusters/import', {
      name: 'legacy-2',
      admin_node_id: ns[0].id,
      node_ids: ids(ns),
    });
    expect([again.status, again.body.error.code, again.body.error.field]).toEqual([409, 'node_in_cluster', 'node_ids']);
    const taken = await h.api('POST', '/v1/clusters/import', {
      name: 'legacy',
      admin_node_id: ns[0].id,
      node_ids: [ns[0].id],
    });
    expect(taken.status).toBe(409);
  });

  it("runs NodeFoundry's operations on the imported cluster: a member's reboot sets and clears noout", async () => {
    const clusterId = (await h.api('GET', `/v1/nodes/${ns[2].id}`)).body.data.cluster_id;
    const r = await h.api('POST', `/v1/nodes/${ns[2].id}/reboot`, { method: 'graceful' });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.steps.find((s: any) => s.name === 'set_noout').status).toBe('completed');
    expect((await getSandboxCephState(h.db, clusterId))?.noout_hosts).toEqual([]);
  });
});

describe('import failures and cancel', () => {
  it('fails with the reason when the admin node runs no Ceph: no cluster left, nodes released', async () => {
    const ns = await nodes(3);
    const r = await h.api('POST', '/v1/clusters/import', {
      name: 'nothing-here',
      admin_node_id: ns[0].id,
      node_ids: ids(ns),
    });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('command_failed');
    expect(op.error.message).toContain('no Ceph cluster runs on this node');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain('cluster record removed, nodes released to ready');
    expect((await h.api('GET', `/v1/clusters/${r.body.data.id}`)).status).toBe(404);
    await expectReleased(ns);
  });

  it('cancelled at once: cancelled, no cluster, nodes released, and the cluster can still be imported', async () => {
    const ns = await nodes(3);
    const seed = await h.api('POST', '/v1/sandbox/ceph-clusters', { node_ids: ids(ns), replication: 3 });
    expect(seed.status).toBe(201);
    const r = await h.api('POST', '/v1/clusters/import', {
      name: 'to-cancel',
      admin_node_id: ns[0].id,
      node_ids: ids(ns),
    });
    expect(r.status).toBe(202);
    const c = await h.api('POST', `/v1/operations/${r.body.data.operation_id}/cancel`);
    expect(c.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('cancelled');
    expect((await h.api('GET', `/v1/clusters/${r.body.data.id}`)).status).toBe(404);
    await expectReleased(ns);
    expect(await locksOf(op.id)).toEqual([]);

    const again = await h.api('POST', '/v1/clusters/import', {
      name: 'to-cancel',
      admin_node_id: ns[0].id,
      node_ids: ids(ns),
    });
    expect(again.status).toBe(202);
    const done = await h.waitForOperation(again.body.data.operation_id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.fsid).toBe(seed.body.data.fsid);
  });
});
