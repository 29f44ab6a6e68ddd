import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../lib/ids';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

/**
 * Issue 8 #7 and #13: one tenant never learns about, locks, or settles another tenant's resources
 * through lock conflicts, and no id can make the database answer (500, or its text in a 503).
 * Two accounts over the real API; no worker (started workflows wait, so their locks are held).
 */
let t: TestApi;
const { privateKey } = generateSshKey();

beforeAll(async () => {
  t = await startTestApi();
});
afterAll(async () => {
  await t?.close();
});

/** A node of tenant A registered over the API: its registration (no worker) holds the node's lock. */
async function tenantANode(keyA: string): Promise<{ nodeId: string; operationId: string }> {
  const r = await t.request('POST', '/v1/nodes', { key: keyA, body: nodeBody(privateKey) });
  expect(r.status).toBe(202);
  return { nodeId: r.body.data.id, operationId: r.body.data.operation_id };
}

async function locksOf(operationId: string): Promise<string[]> {
  const rows = await t.db
    .selectFrom('operation_locks')
    .select('resource_id')
    .where('operation_id', '=', operationId)
    .execute();
  return rows.map((r) => r.resource_id).sort();
}

describe('tenancy through locks (issue 8 #7)', () => {
  it("a LIKE pattern as a node id is a 400 and never names another tenant's cluster or operation", async () => {
    const a = await t.newAccount();
    const b = await t.newAccount();
    // Tenant A: a cluster with a part lock held by a running operation (a drain of one OSD).
    const clusterA = newId('cluster');
    await t.db
      .insertInto('clusters')
      .values({
        id: clusterA,
        account_id: a.accountId,
        environment: 'sandbox',
        name: 'a-cluster',
        status: 'HEALTH_OK',
        ceph_version: 'reef',
      })
      .execute();
    const opA = newId('operation');
    await t.db
      .insertInto('operations')
      .values({
        id: opA,
        account_id: a.accountId,
        environment: 'sandbox',
        type: 'osd.reweight',
        status: 'in_progress',
        cluster_id: clusterA,
        request_id: 'req_a',
        workflow_id: `probe-${opA}`,
      })
      .execute();
    await t.db
      .insertInto('operation_locks')
      .values({ resource_id: `${clusterA}/osd.3`, operation_id: opA })
      .execute();

    for (const path of ['/v1/clusters', '/v1/clusters?dry_run=true']) {
      const r = await t.request('POST', path, {
        key: b.keys.test,
        body: { name: 'probe', node_ids: ['clus_%', newId('node'), newId('node')], ceph_version: 'reef' },
      });
      expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'node_ids[0]']);
      expect(r.text).not.toContain(clusterA);
      expect(r.text).not.toContain(opA);
    }
    const imp = await t.request('POST', '/v1/clusters/import', {
      key: b.keys.test,
      body: { name: 'probe', admin_node_id: 'clus_%', node_ids: ['clus_%'] },
    });
    expect([imp.status, imp.body.error.code]).toEqual([400, 'validation_error']);
    expect(await locksOf(opA)).toEqual([`${clusterA}/osd.3`]);
  });

  it("another tenant's node id is 404 node_not_found: its operation is never named, nor settled, nor its lock released", async () => {
    const a = await t.newAccount();
    const b = await t.newAccount();
    const busy = await tenantANode(a.keys.test);
    // A's second node: its registration workflow is terminated outside NodeFoundry (Web UI), so
    // only a request that bumps into its lock would settle it.
    const gone = await tenantANode(a.keys.test);
    const goneOp = (await t.request('GET', `/v1/operations/${gone.operationId}`, { key: a.keys.test })).body.data;
    await t.client.workflow.getHandle(goneOp.temporal.workflow_id).terminate('test: terminated from the Web UI');

    for (const target of [busy, gone]) {
      for (const [path, body] of [
        [
          '/v1/clusters',
          { name: 'probe', node_ids: [newId('node'), target.nodeId, newId('node')], ceph_version: 'reef' },
        ],
        ['/v1/clusters/import', { name: 'probe', admin_node_id: target.nodeId, node_ids: [target.nodeId] }],
      ] as const) {
        const r = await t.request('POST', path, { key: b.keys.test, body });
        expect([path, r.status, r.body.error.code]).toEqual([path, 404, 'node_not_found']);
        expect(r.text).not.toContain(target.operationId);
      }
    }
    // Nothing of A's changed: both registrations still pending, both locks held.
    for (const target of [busy, gone]) {
      const op = await t.request('GET', `/v1/operations/${target.operationId}`, { key: a.keys.test });
      expect(op.body.data.status).toBe('pending');
      expect(await locksOf(target.operationId)).toEqual([target.nodeId]);
    }
    // The same node under the owner's other environment (live key) is not theirs either.
    const live = await t.request('POST', '/v1/clusters', {
      key: a.keys.live,
      body: { name: 'probe', node_ids: [newId('node'), busy.nodeId, newId('node')], ceph_version: 'reef' },
    });
    expect([live.status, live.body.error.code]).toEqual([404, 'node_not_found']);
    expect(live.text).not.toContain(busy.operationId);
  });
});

describe('control characters and database text (issue 8 #13)', () => {
  it('a NUL byte in an id is a 400 naming the field, with and without dry_run, and no answer carries database text', async () => {
    const cases: [string, unknown, string][] = [
      ['/v1/clusters', { name: 'nul', node_ids: ['\u0000', 'a', 'b'], ceph_version: 'reef' }, 'node_ids[0]'],
      [
        '/v1/clusters?dry_run=true',
        { name: 'nul', node_ids: ['\u0000', 'a', 'b'], ceph_version: 'reef' },
        'node_ids[0]',
      ],
      ['/v1/clusters/import', { name: 'nul', admin_node_id: 'a', node_ids: ['\u0000', 'a', 'b'] }, 'node_ids[0]'],
      [
        '/v1/clusters/import?dry_run=true',
        { name: 'nul', admin_node_id: 'a', node_ids: ['\u0000', 'a', 'b'] },
        'node_ids[0]',
      ],
      ['/v1/nodes', nodeBody(privateKey, { ipmi_password: 'pass\u0000word' }), 'ipmi_password'],
      ['/v1/nodes', nodeBody(privateKey, { ssh_private_key: `${privateKey}\u0000` }), 'ssh_private_key'],
    ];
    for (const [path, body, field] of cases) {
      const r = await t.request('POST', path, { body });
      expect([path, r.status, r.body.error.code, r.body.error.field]).toEqual([path, 400, 'validation_error', field]);
      expect(r.text).not.toMatch(/invalid byte sequence|0x00|UTF8|syntax|postgres/i);
    }
    // Path parameters pass the same check.
    for (const path of ['/v1/nodes/node_%00', '/v1/operations/op_%00', '/v1/clusters/clus_%00/pools']) {
      const r = await t.request('GET', path);
      expect([path, r.status, r.body.error.code]).toEqual([path, 400, 'validation_error']);
      expect(r.text).not.toMatch(/invalid byte sequence|0x00|UTF8/i);
    }
    // Nothing was written by any of them.
    const ops = await t.db
      .selectFrom('operations')
      .select('id')
      .where('account_id', '=', t.account.accountId)
      .where('type', 'like', 'cluster.%')
      .execute();
    expect(ops).toEqual([]);
  });
});
