import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../../db/repositories/api-keys.repository';
import { isId } from '../../lib/ids';
import { generateApiKey } from '../../lib/secrets';
import { nodeBody, startTestApi, type TestAccount, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

let api: TestApi;
let other: TestAccount;
let liveNodeId: string;
let sandboxNodeId: string;
let sandboxOpId: string;

beforeAll(async () => {
  api = await startTestApi();
  other = await api.newAccount();
  const key = generateSshKey().privateKey;
  const live = await api.request('POST', '/v1/nodes', { key: api.account.keys.live, body: nodeBody(key) });
  expect(live.status).toBe(202);
  liveNodeId = live.body.data.id;
  const sandbox = await api.request('POST', '/v1/nodes', { key: api.account.keys.test, body: nodeBody(key) });
  expect(sandbox.status).toBe(202);
  sandboxNodeId = sandbox.body.data.id;
  sandboxOpId = sandbox.body.data.operation_id;
});
afterAll(async () => api?.close());

describe('authentication', () => {
  it.each([
    ['no Authorization header', undefined],
    ['a malformed header', 'Token abc'],
    ['a key of an unknown prefix', `Bearer nf_sk_prod_${'a'.repeat(32)}`],
    ['a well-formed key that does not exist', `Bearer ${generateApiKey('live')}`],
  ])('answers 401 unauthorized for %s', async (_what, header) => {
    const r = await api.request('GET', '/v1/nodes', { key: null, headers: header ? { authorization: header } : {} });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(r.body.error.request_id).toBe(r.headers.get('x-request-id'));
  });

  it('answers 401 for a revoked key, at once', async () => {
    const acct = await api.newAccount();
    expect((await api.request('GET', '/v1/nodes', { key: acct.keys.live })).status).toBe(200);
    await revokeApiKey(api.db, acct.accountId, acct.keyIds.live);
    const r = await api.request('GET', '/v1/nodes', { key: acct.keys.live });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
  });

  it('records last_used_at on use', async () => {
    const acct = await api.newAccount();
    const before = await api.db
      .selectFrom('api_keys')
      .select('last_used_at')
      .where('id', '=', acct.keyIds.ro)
      .executeTakeFirstOrThrow();
    expect(before.last_used_at).toBeNull();
    await api.request('GET', '/v1/nodes', { key: acct.keys.ro });
    const after = await api.db
      .selectFrom('api_keys')
      .select('last_used_at')
      .where('id', '=', acct.keyIds.ro)
      .executeTakeFirstOrThrow();
    expect(after.last_used_at).toBeInstanceOf(Date);
  });
});

describe('read-only keys', () => {
  it('may GET live resources', async () => {
    const r = await api.request('GET', `/v1/nodes/${liveNodeId}`, { key: api.account.keys.ro });
    expect(r.status).toBe(200);
    expect(r.body.data.id).toBe(liveNodeId);
  });

  it.each([
    ['POST', '/v1/nodes'],
    ['POST', '/v1/api_keys'],
    ['PATCH', `/v1/nodes/{live}`],
    ['DELETE', `/v1/nodes/{live}`],
    ['POST', `/v1/nodes/{live}/reboot`],
  ])('are refused %s %s with 403 forbidden, and nothing changes', async (method, path) => {
    const r = await api.request(method, path.replace('{live}', liveNodeId), {
      key: api.account.keys.ro,
      body: { state: 'hold' },
    });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
    const node = await api.request('GET', `/v1/nodes/${liveNodeId}`, { key: api.account.keys.live });
    expect(node.body.data.held).toBe(false);
  });
});

describe('tenancy', () => {
  it("hides another account's node, operation and key: 404, never 403", async () => {
    for (const kind of ['live', 'test', 'ro'] as const) {
      const nodeId = kind === 'test' ? sandboxNodeId : liveNodeId;
      const r = await api.request('GET', `/v1/nodes/${nodeId}`, { key: other.keys[kind] });
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('node_not_found');
    }
    expect((await api.request('GET', `/v1/operations/${sandboxOpId}`, { key: other.keys.test })).status).toBe(404);
    expect((await api.request('POST', `/v1/nodes/${sandboxNodeId}/reboot`, { key: other.keys.test })).status).toBe(404);
    expect(
      (await api.request('PATCH', `/v1/nodes/${sandboxNodeId}`, { key: other.keys.test, body: { state: 'hold' } }))
        .status,
    ).toBe(404);
    expect((await api.request('DELETE', `/v1/nodes/${sandboxNodeId}`, { key: other.keys.test })).status).toBe(404);
    expect(
      (await api.request('DELETE', `/v1/api_keys/${api.account.keyIds.test}`, { key: other.keys.live })).status,
    ).toBe(404);
    const list = await api.request('GET', '/v1/nodes', { key: other.keys.test });
    expect(list.body.meta.total).toBe(0);
  });

  it('separates environments of one account: a sandbox key never sees live resources, nor the reverse', async () => {
    const fromSandbox = await api.request('GET', `/v1/nodes/${liveNodeId}`, { key: api.account.keys.test });
    expect(fromSandbox.status).toBe(404);
    expect(fromSandbox.body.error.code).toBe('node_not_found');
    const fromLive = await api.request('GET', `/v1/nodes/${sandboxNodeId}`, { key: api.account.keys.live });
    expect(fromLive.status).toBe(404);
    expect((await api.request('GET', `/v1/operations/${sandboxOpId}`, { key: api.account.keys.live })).status).toBe(
      404,
    );
    const sandboxList = (await api.request('GET', '/v1/nodes', { key: api.account.keys.test })).body.data.map(
      (n: any) => n.id,
    );
    const liveList = (await api.request('GET', '/v1/nodes', { key: api.account.keys.ro })).body.data.map(
      (n: any) => n.id,
    );
    expect(sandboxList).toEqual([sandboxNodeId]);
    expect(liveList).toEqual([liveNodeId]);
  });
});

describe('request ids', () => {
  it('echoes a client X-Request-ID, puts it in error bodies and on the operation it starts', async () => {
    const err = await api.request('GET', '/v1/nodes/node_nope', { headers: { 'x-request-id': 'trace-1234' } });
    expect(err.status).toBe(404);
    expect(err.headers.get('x-request-id')).toBe('trace-1234');
    expect(err.body.error.request_id).toBe('trace-1234');

    const reg = await api.request('POST', '/v1/nodes', {
      body: nodeBody(generateSshKey().privateKey),
      headers: { 'x-request-id': 'trace-reg-1' },
    });
    expect(reg.status).toBe(202);
    const op = await api.db
      .selectFrom('operations')
      .select('request_id')
      .where('id', '=', reg.body.data.operation_id)
      .executeTakeFirstOrThrow();
    expect(op.request_id).toBe('trace-reg-1');
    const lines = api.logs.map((l) => JSON.parse(l)).filter((l) => l.request_id === 'trace-reg-1');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.msg === 'request' && l.status === 202)).toBe(true);
  });

  it('generates a req_ id when the client sends none or an unsafe one', async () => {
    const cases: Record<string, string>[] = [
      {},
      { 'x-request-id': 'bad id with spaces' },
      { 'x-request-id': 'x'.repeat(200) },
    ];
    for (const headers of cases) {
      const r = await api.request('GET', '/v1/nope', { headers });
      const id = r.headers.get('x-request-id')!;
      expect(isId('request', id)).toBe(true);
      expect(r.body.error.request_id).toBe(id);
    }
  });

  it('logs every request with its id, and no line without one', async () => {
    const r = await api.request('GET', '/v1/nodes');
    const id = r.headers.get('x-request-id');
    expect(api.logs.some((l) => JSON.parse(l).request_id === id)).toBe(true);
    expect(api.logs.every((l) => typeof JSON.parse(l).request_id === 'string')).toBe(true);
  });
});
