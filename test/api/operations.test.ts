import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishOperation } from '../../db/repositories/operations.repository';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

let api: TestApi;
let privateKey: string;

beforeAll(async () => {
  api = await startTestApi();
  privateKey = generateSshKey().privateKey;
});
afterAll(async () => api?.close());

async function finish(operationId: string, status: 'completed' | 'failed' = 'completed'): Promise<void> {
  await finishOperation(api.db, operationId, {
    status,
    progress: 100,
    current_step: null,
    steps: [],
    logs: [{ timestamp: new Date().toISOString(), message: 'done' }],
    error: status === 'failed' ? { code: 'bmc_auth_failed', message: 'BMC refused' } : null,
    result: null,
    started_at: new Date().toISOString(),
    completed_at: new Date().toISOString(),
  });
}

describe('GET /v1/operations/{id}', () => {
  // Over the typed client (lib/client): the answer's fields are read through the document's types.
  it('shows the operation with its Temporal workflow; after it ends, the stored final state', async () => {
    const reg = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const id: string = reg.body.data.operation_id;
    const typed = api.typed();
    const r = await typed.GET('/v1/operations/{id}', { params: { path: { id } } });
    expect(r.response.status).toBe(200);
    const op = r.data!.data;
    expect(op).toMatchObject({
      id,
      type: 'node.register',
      status: 'pending',
      progress: 0,
      node_id: reg.body.data.id,
      cluster_id: null,
      error: null,
    });
    expect(op.temporal.workflow_id).toBe(`${reg.body.data.id}/register/${id}`);
    expect(op.temporal.run_id).toMatch(/\S/);
    expect(op.temporal.ui_url).toBe(
      `${api.config.temporal.uiUrl}/namespaces/default/workflows/${encodeURIComponent(op.temporal.workflow_id)}/${op.temporal.run_id}`,
    );
    await finish(id, 'failed');
    const done = (await typed.GET('/v1/operations/{id}', { params: { path: { id } } })).data!.data;
    expect(done).toMatchObject({
      status: 'failed',
      progress: 100,
      error: { code: 'bmc_auth_failed', message: 'BMC refused' },
    });
    expect(done.logs).toEqual([{ timestamp: expect.any(String), message: 'done' }]);
    // An unknown id: the error body the document declares.
    const missing = await typed.GET('/v1/operations/{id}', {
      params: { path: { id: 'op_00000000000000000000000000' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error?.error.code).toBe('operation_not_found');
  });
});

describe('GET /v1/operations', () => {
  it('lists newest first from the index, filtered by node, type and status, with page meta', async () => {
    const acct = await api.newAccount();
    const regs = [];
    for (let i = 0; i < 3; i++)
      regs.push(
        (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body.data,
      );
    await finish(regs[0].operation_id);
    await api.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', regs[0].id).execute();
    const reboot = (await api.request('POST', `/v1/nodes/${regs[0].id}/reboot`, { key: acct.keys.test })).body.data;

    const all = await api.request('GET', '/v1/operations', { key: acct.keys.test });
    expect(all.body.meta).toEqual({ page: 1, per_page: 25, total: 4 });
    expect(all.body.data.map((o: any) => o.id)).toEqual([
      reboot.operation_id,
      regs[2].operation_id,
      regs[1].operation_id,
      regs[0].operation_id,
    ]);
    expect(all.body.data[0]).toMatchObject({
      type: 'node.reboot',
      params: { method: 'graceful', drain_osds: true },
      temporal: expect.any(Object),
    });

    // The filters over the typed client: query names and values are the document's.
    const typed = api.typed(acct.keys.test);
    const byNode = await typed.GET('/v1/operations', { params: { query: { node_id: regs[0].id } } });
    expect(byNode.data!.data.map((o) => o.type)).toEqual(['node.reboot', 'node.register']);
    const byType = await typed.GET('/v1/operations', { params: { query: { type: 'node.register', per_page: 2 } } });
    expect(byType.data!.meta).toEqual({ page: 1, per_page: 2, total: 3 });
    const byStatus = await typed.GET('/v1/operations', { params: { query: { status: 'completed' } } });
    expect(byStatus.data!.data.map((o) => o.id)).toEqual([regs[0].operation_id]);
    // Other environments and accounts are not listed.
    expect((await api.typed(acct.keys.live).GET('/v1/operations')).data!.meta.total).toBe(0);
  });
});

describe('GET /v1/operations?request_id=', () => {
  it('lists only the operations the given request started (its X-Request-ID); a malformed id is 400', async () => {
    const acct = await api.newAccount();
    const rid = `req-filter-${Math.random().toString(36).slice(2, 10)}`;
    const mine = await api.request('POST', '/v1/nodes', {
      key: acct.keys.test,
      body: nodeBody(privateKey),
      headers: { 'x-request-id': rid },
    });
    expect(mine.headers.get('x-request-id')).toBe(rid);
    await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) });
    const r = await api.request('GET', `/v1/operations?request_id=${rid}`, { key: acct.keys.test });
    expect(r.status).toBe(200);
    expect(r.body.meta.total).toBe(1);
    expect(r.body.data.map((o: any) => [o.id, o.request_id])).toEqual([[mine.body.data.operation_id, rid]]);
    // Another account's key never sees it.
    expect((await api.request('GET', `/v1/operations?request_id=${rid}`)).body.meta.total).toBe(0);
    const bad = await api.request('GET', '/v1/operations?request_id=a%20b', { key: acct.keys.test });
    expect([bad.status, bad.body.error.field]).toEqual([400, 'request_id']);
  });
});

describe('POST /v1/operations/{id}/cancel', () => {
  it('a second cancel of an operation already cancelling is 409 invalid_state "already requested"; the first is recorded', async () => {
    const reg = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const id = reg.body.data.operation_id;
    const first = await api.request('POST', `/v1/operations/${id}/cancel`);
    expect(first.status).toBe(202);
    expect(first.body.data.cancel_requested_at).toEqual(expect.any(String));
    const second = await api.request('POST', `/v1/operations/${id}/cancel`);
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({
      code: 'invalid_state',
      cancel_requested_at: first.body.data.cancel_requested_at,
    });
    expect(second.body.error.message).toMatch(/already requested/);
    expect((await api.request('GET', `/v1/operations/${id}`)).body.data.cancel_requested_at).toBe(
      first.body.data.cancel_requested_at,
    );
    const history = await api.client.workflow.getHandle(first.body.data.temporal.workflow_id).fetchHistory();
    expect(history.events!.filter((e) => e.workflowExecutionCancelRequestedEventAttributes)).toHaveLength(1);
  });

  it('asks the workflow to cancel (202 with the operation); an ended operation is 409 invalid_state', async () => {
    const reg = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const id = reg.body.data.operation_id;
    const typed = api.typed();
    const r = await typed.POST('/v1/operations/{id}/cancel', { params: { path: { id } } });
    expect(r.response.status).toBe(202);
    expect(r.data!.data.id).toBe(id);
    const history = await api.client.workflow.getHandle(r.data!.data.temporal.workflow_id).fetchHistory();
    expect(history.events!.some((e) => e.workflowExecutionCancelRequestedEventAttributes)).toBe(true);

    await finish(id);
    const ended = await typed.POST('/v1/operations/{id}/cancel', { params: { path: { id } } });
    expect(ended.response.status).toBe(409);
    expect(ended.error?.error.code).toBe('invalid_state');
  });

  it('takes no parameters, and read-only keys may not cancel', async () => {
    const reg = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const id = reg.body.data.operation_id;
    const extra = await api.request('POST', `/v1/operations/${id}/cancel`, { body: { force: true } });
    expect(extra.status).toBe(400);
    expect(extra.body.error).toMatchObject({ code: 'validation_error', field: 'force' });
    const live = await api.request('POST', '/v1/nodes', { key: api.account.keys.live, body: nodeBody(privateKey) });
    const ro = await api.request('POST', `/v1/operations/${live.body.data.operation_id}/cancel`, {
      key: api.account.keys.ro,
    });
    expect(ro.status).toBe(403);
    const history = await api.client.workflow
      .getHandle(`${live.body.data.id}/register/${live.body.data.operation_id}`)
      .fetchHistory();
    expect(history.events!.some((e) => e.workflowExecutionCancelRequestedEventAttributes)).toBe(false);
  });
});
