import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordEvent } from '../../db/repositories/events.repository';
import { setClusterStatus } from '../../db/repositories/clusters.repository';
import { setNodeStatus } from '../../db/repositories/nodes.repository';
import { finishOperation, markOperationStarted } from '../../db/repositories/operations.repository';
import { newId } from '../../lib/ids';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

let api: TestApi;
let privateKey: string;

beforeAll(async () => {
  api = await startTestApi();
  privateKey = generateSshKey().privateKey;
});
afterAll(async () => api?.close());

async function finish(operationId: string, status: 'completed' | 'failed'): Promise<void> {
  await finishOperation(api.db, operationId, {
    status,
    progress: 100,
    current_step: null,
    steps: [],
    logs: [],
    error: status === 'failed' ? { code: 'bmc_auth_failed', message: 'BMC refused' } : null,
    result: null,
    started_at: new Date().toISOString(),
    completed_at: new Date().toISOString(),
  });
}

async function events(key: string, query = ''): Promise<any> {
  const r = await api.request('GET', `/v1/events${query}`, { key });
  expect(r.status).toBe(200);
  return r.body;
}

describe('events outbox', () => {
  it('writes operation.started and operation.completed with the change, newest first, filtered and paged', async () => {
    const acct = await api.newAccount();
    const reg = (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body.data;
    expect(await markOperationStarted(api.db, reg.operation_id)).toBe(true);
    await finish(reg.operation_id, 'completed');
    await finish(reg.operation_id, 'failed'); // already ended: no change, so no event

    const all = await events(acct.keys.test, `?operation_id=${reg.operation_id}`);
    expect(all.meta).toEqual({ page: 1, per_page: 25, total: 2 });
    expect(all.data.map((e: any) => e.type)).toEqual(['operation.completed', 'operation.started']);
    const [done, started] = all.data;
    expect(done).toMatchObject({
      id: expect.stringMatching(/^evt_[0-9a-hjkmnp-tv-z]{26}$/),
      operation_id: reg.operation_id,
      node_id: reg.id,
      cluster_id: null,
      data: { operation_type: 'node.register', from: 'in_progress', to: 'completed', error_code: null },
      created_at: expect.any(String),
    });
    expect(started.data).toMatchObject({ from: 'pending', to: 'in_progress' });
    expect(done.sequence).toBeGreaterThan(started.sequence);

    const paged = await events(acct.keys.test, `?operation_id=${reg.operation_id}&per_page=1&page=2`);
    expect(paged.meta).toEqual({ page: 2, per_page: 1, total: 2 });
    expect(paged.data.map((e: any) => e.id)).toEqual([started.id]);
    const typed = await events(acct.keys.test, '?type=operation.started');
    expect(typed.data.map((e: any) => e.id)).toEqual([started.id]);
  });

  it('writes node.status_changed and cluster.status_changed with from/to; none for a change that rolled back', async () => {
    const acct = await api.newAccount();
    const node = (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body
      .data;
    const clusterId = newId('cluster');
    await api.db
      .insertInto('clusters')
      .values({
        id: clusterId,
        account_id: acct.accountId,
        environment: 'sandbox',
        name: 'ev',
        status: 'HEALTH_OK',
        ceph_version: 'reef',
      })
      .execute();

    await setNodeStatus(api.db, node.id, 'ready', null);
    await setNodeStatus(api.db, node.id, 'ready', null); // same status: no event
    await setClusterStatus(api.db, clusterId, 'HEALTH_WARN', 'OSD_DOWN');
    await expect(
      api.db.transaction().execute(async (trx) => {
        await setNodeStatus(trx, node.id, 'error', 'rolled back');
        await setClusterStatus(trx, clusterId, 'HEALTH_ERR', 'rolled back');
        await recordEvent(trx, {
          accountId: acct.accountId,
          environment: 'sandbox',
          type: 'cluster.health_check_raised',
          clusterId,
          data: { code: 'OSD_DOWN' },
        });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');

    const nodeEvents = await events(acct.keys.test, `?node_id=${node.id}&type=node.status_changed`);
    expect(nodeEvents.data.map((e: any) => e.data)).toEqual([{ from: 'pending', to: 'ready', reason: null }]);
    const clusterEvents = await events(acct.keys.test, `?cluster_id=${clusterId}`);
    expect(clusterEvents.data.map((e: any) => [e.type, e.data])).toEqual([
      ['cluster.status_changed', { from: 'HEALTH_OK', to: 'HEALTH_WARN', reason: 'OSD_DOWN' }],
    ]);
    expect(
      await api.db.selectFrom('nodes').select('status').where('id', '=', node.id).executeTakeFirstOrThrow(),
    ).toEqual({
      status: 'ready',
    });

    await api.db.transaction().execute(async (trx) => {
      await recordEvent(trx, {
        accountId: acct.accountId,
        environment: 'sandbox',
        type: 'cluster.health_check_raised',
        clusterId,
        data: { code: 'OSD_DOWN' },
      });
    });
    const raised = await events(acct.keys.test, `?cluster_id=${clusterId}&type=cluster.health_check_raised`);
    expect(raised.data.map((e: any) => e.data)).toEqual([{ code: 'OSD_DOWN' }]);
  });

  it("never shows another account's (or environment's) events; bad filters are a 400", async () => {
    const a = await api.newAccount();
    const b = await api.newAccount();
    const reg = (await api.request('POST', '/v1/nodes', { key: a.keys.test, body: nodeBody(privateKey) })).body.data;
    await finish(reg.operation_id, 'failed');
    expect((await events(a.keys.test, `?node_id=${reg.id}`)).data.map((e: any) => e.type)).toEqual([
      'operation.failed',
    ]);
    expect(await events(b.keys.test, `?node_id=${reg.id}`)).toMatchObject({ data: [], meta: { total: 0 } });
    expect(await events(b.keys.test)).toMatchObject({ data: [], meta: { total: 0 } });
    expect(await events(a.keys.live)).toMatchObject({ data: [], meta: { total: 0 } });

    for (const q of ['?type=operation.exploded', '?node_id=nope', '?colour=red', '?per_page=0']) {
      const r = await api.request('GET', `/v1/events${q}`, { key: a.keys.test });
      expect(r.status, q).toBe(400);
      expect(r.text).not.toMatch(/select|postgres|at .*\.ts/i);
    }
  });
});
