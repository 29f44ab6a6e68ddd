import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';
import { completeOperationRow } from '../helpers/db';

let api: TestApi;
let privateKey: string;

beforeAll(async () => {
  api = await startTestApi();
  privateKey = generateSshKey().privateKey;
});
afterAll(async () => api?.close());

async function readyNode(): Promise<string> {
  const r = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
  await completeOperationRow(api.db, r.body.data.operation_id);
  await api.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', r.body.data.id).execute();
  return r.body.data.id;
}

const key = () => `idem-${Math.random().toString(36).slice(2)}`;

describe('Idempotency-Key', () => {
  it('replays the first response of the same request: same status, same body, same operation, nothing new', async () => {
    const k = key();
    const body = nodeBody(privateKey);
    const first = await api.request('POST', '/v1/nodes', { body, headers: { 'idempotency-key': k } });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // Same body with its keys in another order is the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const again = await api.request('POST', '/v1/nodes', { body: reordered, headers: { 'idempotency-key': k } });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.body.data.operation_id).toBe(first.body.data.operation_id);
    const ops = await api.db.selectFrom('operations').select('id').where('node_id', '=', first.body.data.id).execute();
    expect(ops).toHaveLength(1);
    // Without the key, the same body is a new request (and here a duplicate address).
    expect((await api.request('POST', '/v1/nodes', { body })).status).toBe(409);
  });

  it('answers 409 idempotency_key_reused for the same key with a different body or path', async () => {
    const k = key();
    const nodeId = await readyNode();
    const first = await api.request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'hard' },
      headers: { 'idempotency-key': k },
    });
    expect(first.status).toBe(202);
    const other = await api.request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'graceful' },
      headers: { 'idempotency-key': k },
    });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'idempotency_key_reused', field: 'Idempotency-Key' });
    const elsewhere = await api.request('POST', '/v1/nodes', {
      body: nodeBody(privateKey),
      headers: { 'idempotency-key': k },
    });
    expect(elsewhere.body.error.code).toBe('idempotency_key_reused');
    const same = await api.request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'hard' },
      headers: { 'idempotency-key': k },
    });
    expect(same.status).toBe(202);
    expect(same.body.data.operation_id).toBe(first.body.data.operation_id);
  });

  it('answers 409 idempotency_in_progress while the first request is still running, then replays its result', async () => {
    const k = key();
    const nodeId = await readyNode();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // Hold the node's row lock, so the first reboot request waits inside its precheck.
    const holder = api.db.transaction().execute(async (trx) => {
      await trx.selectFrom('nodes').select('id').where('id', '=', nodeId).forUpdate().execute();
      locked();
      await released;
    });
    await isLocked;
    const firstP = api.request('POST', `/v1/nodes/${nodeId}/reboot`, { body: {}, headers: { 'idempotency-key': k } });
    for (let i = 0; ; i++) {
      const row = await api.db.selectFrom('idempotency_keys').select('state').where('key', '=', k).executeTakeFirst();
      if (row?.state === 'in_progress') break;
      if (i > 500) throw new Error('the first request never claimed its key');
      await new Promise((r) => setImmediate(r));
    }
    const dup = await api.request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: {},
      headers: { 'idempotency-key': k },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('idempotency_in_progress');
    release();
    await holder;
    const first = await firstP;
    expect(first.status).toBe(202);
    const replay = await api.request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: {},
      headers: { 'idempotency-key': k },
    });
    expect(replay.status).toBe(202);
    expect(replay.body.data.operation_id).toBe(first.body.data.operation_id);
  });

  it('forgets a failed request, so a retry with the same key does the work once the cause is gone', async () => {
    const k = key();
    const existing = await readyNode();
    const ipmi = (await api.request('GET', `/v1/nodes/${existing}`)).body.data.ipmi_address;
    const body = nodeBody(privateKey, { ipmi_address: ipmi });
    const refused = await api.request('POST', '/v1/nodes', { body, headers: { 'idempotency-key': k } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('address_in_use');
    expect((await api.request('DELETE', `/v1/nodes/${existing}`)).status).toBe(204);
    const retried = await api.request('POST', '/v1/nodes', { body, headers: { 'idempotency-key': k } });
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });

  it('keeps keys per account: another account may use the same key', async () => {
    const k = key();
    const other = await api.newAccount();
    const a = await api.request('POST', '/v1/api_keys', { body: { kind: 'test' }, headers: { 'idempotency-key': k } });
    const b = await api.request('POST', '/v1/api_keys', {
      key: other.keys.test,
      body: { kind: 'test' },
      headers: { 'idempotency-key': k },
    });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body.data.id).not.toBe(a.body.data.id);
  });

  it('rejects a malformed key with 400 naming the header', async () => {
    const r = await api.request('POST', '/v1/api_keys', {
      body: { kind: 'test' },
      headers: { 'idempotency-key': 'x'.repeat(256) },
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'validation_error', field: 'Idempotency-Key' });
  });

  it('refuses an empty key (400) and creates nothing: the document says 1 to 255 characters (schemathesis ST201)', async () => {
    const before = (await api.request('GET', '/v1/api_keys')).body.meta.total;
    // An empty header is a key that was meant to be sent (e.g. `-H "Idempotency-Key: $KEY"` with KEY
    // unset): answering as if none was sent would leave the client believing its retries are safe.
    const r = await api.request('POST', '/v1/api_keys', {
      body: { kind: 'test', name: 'empty idempotency key' },
      headers: { 'idempotency-key': '' },
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'validation_error', field: 'Idempotency-Key' });
    expect((await api.request('GET', '/v1/api_keys')).body.meta.total).toBe(before);
    // No header at all is no key: the request is served.
    expect((await api.request('POST', '/v1/api_keys', { body: { kind: 'test' } })).status).toBe(201);
  });
});
