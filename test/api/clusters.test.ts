import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../db/database';
import { newId } from '../../lib/ids';
import { startTestApi, type TestApi } from '../helpers/api';

/** Cluster and pool routes without a worker: validation, tenancy, confirmation, OpenAPI. */
let t: TestApi;

beforeAll(async () => {
  t = await startTestApi();
});
afterAll(async () => {
  await t?.close();
});

async function sandboxCluster(accountId: string, name: string, status: ClusterStatus = 'HEALTH_OK'): Promise<string> {
  const id = newId('cluster');
  await t.db
    .insertInto('clusters')
    .values({ id, account_id: accountId, environment: 'sandbox', name, status, ceph_version: 'reef' })
    .execute();
  return id;
}

describe('cluster routes', () => {
  it('lists newest first with page meta and the status filter; rejects unknown statuses and parameters', async () => {
    const a = await sandboxCluster(t.account.accountId, 'list-a');
    const b = await sandboxCluster(t.account.accountId, 'list-b', 'HEALTH_WARN');
    let r = await t.request('GET', '/v1/clusters?per_page=1');
    expect(r.status).toBe(200);
    expect(r.body.meta).toEqual({ page: 1, per_page: 1, total: 2 });
    expect(r.body.data[0]).toMatchObject({
      id: b,
      name: 'list-b',
      node_count: 0,
      osd_count: 0,
      raw_capacity_tib: 0,
      used_capacity_tib: null,
      failure_domain: 'host',
      replication_factor: 3,
      current_operation_id: null,
    });
    r = await t.request('GET', '/v1/clusters?status=HEALTH_OK');
    expect(r.body.data.map((c: any) => c.id)).toEqual([a]);
    r = await t.request('GET', '/v1/clusters?status=BROKEN');
    expect([r.status, r.body.error.field]).toEqual([400, 'status']);
    r = await t.request('GET', '/v1/clusters?color=red');
    expect([r.status, r.body.error.field]).toEqual([400, 'color']);
  });

  it("a key never sees another environment's or account's cluster (404), and a malformed id is a 404", async () => {
    const id = await sandboxCluster(t.account.accountId, 'tenancy');
    expect((await t.request('GET', `/v1/clusters/${id}`)).status).toBe(200);
    expect((await t.request('GET', `/v1/clusters/${id}`, { key: t.account.keys.live })).body.error.code).toBe(
      'cluster_not_found',
    );
    const other = await t.newAccount();
    expect((await t.request('GET', `/v1/clusters/${id}`, { key: other.keys.test })).status).toBe(404);
    expect(
      (
        await t.request('DELETE', `/v1/clusters/${id}`, {
          key: other.keys.test,
          headers: { 'x-confirm-delete': 'true' },
        })
      ).status,
    ).toBe(404);
    expect((await t.request('GET', '/v1/clusters/123')).body.error.code).toBe('cluster_not_found');
    expect((await t.request('GET', `/v1/clusters/${id}/pools`, { key: other.keys.test })).status).toBe(404);
  });

  it('a schema-valid node_ids list always fits in a body: at most 1000 on create and import (schemathesis ST202: 413)', async () => {
    // Import allowed 2000 ids, which is about 68 KB of JSON: a body the document accepted was a 413.
    const ids = (n: number): string[] => Array.from({ length: n }, () => newId('node'));
    for (const [path, extra] of [
      ['/v1/clusters/import', { name: 'big-import', deployment: 'packages' }],
      ['/v1/clusters', { name: 'big-create', ceph_version: 'squid' }],
    ] as const) {
      const atMost = ids(1000);
      const body = { ...extra, node_ids: atMost, ...(path.endsWith('import') ? { admin_node_id: atMost[0] } : {}) };
      expect(JSON.stringify(body).length).toBeLessThan(64 * 1024);
      const ok = await t.request('POST', path, { body });
      expect(ok.status, JSON.stringify(ok.body)).not.toBe(413);
      expect(ok.body.error.code, JSON.stringify(ok.body)).not.toBe('validation_error');
      const over = ids(1001);
      const tooMany = await t.request('POST', path, {
        body: { ...body, node_ids: over, ...(path.endsWith('import') ? { admin_node_id: over[0] } : {}) },
      });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error).toMatchObject({ code: 'validation_error', field: 'node_ids' });
    }
  });

  it('read-only keys cannot create or delete (403)', async () => {
    const r = await t.request('POST', '/v1/clusters', {
      key: t.account.keys.ro,
      body: { name: 'x', node_ids: ['a', 'b', 'c'], ceph_version: 'reef' },
    });
    expect(r.status).toBe(403);
  });

  it('delete without X-Confirm-Delete is 400 confirmation_required; the cluster is untouched', async () => {
    const id = await sandboxCluster(t.account.accountId, 'confirm');
    const r = await t.request('DELETE', `/v1/clusters/${id}`);
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([
      400,
      'confirmation_required',
      'X-Confirm-Delete',
    ]);
    expect((await t.request('GET', `/v1/clusters/${id}`)).body.data.status).toBe('HEALTH_OK');
    expect(await t.db.selectFrom('operation_locks').selectAll().where('resource_id', '=', id).execute()).toEqual([]);
  });

  it('pools are refused on a cluster that is not running (409 invalid_state)', async () => {
    const id = await sandboxCluster(t.account.accountId, 'creating', 'CREATING');
    const r = await t.request('POST', `/v1/clusters/${id}/pools`, { body: { name: 'p', type: 'replicated' } });
    expect([r.status, r.body.error.code]).toEqual([409, 'invalid_state']);
    expect((await t.request('GET', `/v1/clusters/${id}/pools`)).body).toEqual({
      data: [],
      meta: { page: 1, per_page: 25, total: 0 },
    });
  });

  it('ceph_version on create accepts reef, squid and tentacle; another release is a 400 on ceph_version (issue 10)', async () => {
    const doc = (await t.request('GET', '/v1/openapi.json', { key: null })).body;
    expect(
      doc.paths['/v1/clusters'].post.requestBody.content['application/json'].schema.properties.ceph_version.enum,
    ).toEqual(['reef', 'squid', 'tentacle']);
    const ids = [newId('node'), newId('node'), newId('node')];
    const bad = await t.request('POST', '/v1/clusters', {
      body: { name: 'rel', node_ids: ids, ceph_version: 'quincy' },
    });
    expect([bad.status, bad.body.error.code, bad.body.error.field]).toEqual([400, 'validation_error', 'ceph_version']);
    // tentacle passes validation: what stops this one is that its nodes do not exist.
    const ok = await t.request('POST', '/v1/clusters', {
      body: { name: 'rel', node_ids: ids, ceph_version: 'tentacle' },
    });
    expect(ok.body.error?.field).not.toBe('ceph_version');
    expect(ok.body.error?.code).not.toBe('validation_error');
  });

  it('the OpenAPI document describes the cluster and pool routes with their schemas', async () => {
    const doc = (await t.request('GET', '/v1/openapi.json', { key: null })).body;
    for (const p of ['/v1/clusters', '/v1/clusters/{id}', '/v1/clusters/{id}/pools', '/v1/clusters/{id}/pools/{name}'])
      expect(doc.paths[p]).toBeDefined();
    expect(
      doc.paths['/v1/clusters'].post.requestBody.content['application/json'].schema.properties.failure_domain.enum,
    ).toEqual(['host', 'rack', 'zone']);
  });
});
