import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../lib/secrets';
import { startTestApi, type TestAccount, type TestApi } from '../helpers/api';

let api: TestApi;
let acct: TestAccount;

beforeAll(async () => {
  api = await startTestApi();
  acct = await api.newAccount();
});
afterAll(async () => api?.close());

describe('/v1/api_keys', () => {
  it('lists keys without secrets; a sandbox key sees sandbox keys only', async () => {
    const live = await api.request('GET', '/v1/api_keys', { key: acct.keys.live });
    expect(live.status).toBe(200);
    expect(live.body.meta.total).toBe(3);
    expect(live.body.data.map((k: any) => k.kind).sort()).toEqual(['live', 'ro', 'test']);
    for (const k of live.body.data) {
      expect(Object.keys(k).sort()).toEqual(['created_at', 'hint', 'id', 'kind', 'last_used_at', 'name', 'revoked_at']);
      expect(acct.keys[k.kind as 'live'].startsWith(k.hint.slice(0, -1))).toBe(true);
    }
    for (const secret of Object.values(acct.keys)) {
      expect(live.text).not.toContain(secret);
      expect(live.text).not.toContain(hashApiKey(secret));
    }
    const sandbox = await api.request('GET', '/v1/api_keys', { key: acct.keys.test });
    expect(sandbox.body.data.map((k: any) => k.id)).toEqual([acct.keyIds.test]);
  });

  it('creates a key (201) whose secret is shown once, stored hashed, and works at once', async () => {
    const r = await api.request('POST', '/v1/api_keys', { key: acct.keys.live, body: { kind: 'ro', name: 'grafana' } });
    expect(r.status).toBe(201);
    const created = r.body.data;
    expect(created).toMatchObject({ kind: 'ro', name: 'grafana', revoked_at: null, last_used_at: null });
    expect(created.key).toMatch(/^nf_sk_ro_[0-9A-Za-z]{32}$/);
    const row = await api.db.selectFrom('api_keys').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(hashApiKey(created.key));
    expect(JSON.stringify(row)).not.toContain(created.key.slice(9));
    expect((await api.request('GET', '/v1/nodes', { key: created.key })).status).toBe(200);
    expect((await api.request('POST', '/v1/api_keys', { key: created.key, body: { kind: 'ro' } })).status).toBe(403);
    const listed = await api.request('GET', '/v1/api_keys', { key: acct.keys.live });
    expect(listed.text).not.toContain(created.key);
    expect(listed.body.data[0].id).toBe(created.id);
  });

  it('lets a sandbox key mint sandbox keys only (403 for live or ro)', async () => {
    for (const kind of ['live', 'ro']) {
      const r = await api.request('POST', '/v1/api_keys', { key: acct.keys.test, body: { kind } });
      expect(r.status).toBe(403);
      expect(r.body.error).toMatchObject({ code: 'forbidden', field: 'kind' });
    }
    const ok = await api.request('POST', '/v1/api_keys', { key: acct.keys.test, body: { kind: 'test' } });
    expect(ok.status).toBe(201);
    expect(ok.body.data.key).toMatch(/^nf_sk_test_/);
  });

  it('revokes a key (204): it stops working at once; a sandbox key cannot reach live keys (404)', async () => {
    const fresh = (await api.request('POST', '/v1/api_keys', { key: acct.keys.live, body: { kind: 'live' } })).body
      .data;
    const hidden = await api.request('DELETE', `/v1/api_keys/${fresh.id}`, { key: acct.keys.test });
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe('api_key_not_found');
    expect((await api.request('GET', '/v1/nodes', { key: fresh.key })).status).toBe(200);

    const del = await api.request('DELETE', `/v1/api_keys/${fresh.id}`, { key: acct.keys.live });
    expect(del.status).toBe(204);
    expect((await api.request('GET', '/v1/nodes', { key: fresh.key })).status).toBe(401);
    expect((await api.request('DELETE', `/v1/api_keys/${fresh.id}`, { key: acct.keys.live })).status).toBe(204);
    const listed = (await api.request('GET', '/v1/api_keys?per_page=100', { key: acct.keys.live })).body.data.find(
      (k: any) => k.id === fresh.id,
    );
    expect(listed.revoked_at).not.toBeNull();
  });

  it('never stores a secret for an idempotent replay: the replay names the same key with key null', async () => {
    const headers = { 'idempotency-key': `k-${Math.random()}` };
    const first = await api.request('POST', '/v1/api_keys', { key: acct.keys.live, body: { kind: 'test' }, headers });
    const replay = await api.request('POST', '/v1/api_keys', { key: acct.keys.live, body: { kind: 'test' }, headers });
    expect(replay.status).toBe(201);
    expect(replay.body.data.id).toBe(first.body.data.id);
    expect(replay.body.data.key).toBeNull();
    const stored = await api.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('key', '=', headers['idempotency-key'])
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(first.body.data.key);
  });
});
