import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishOperation } from '../../db/repositories/operations.repository';
import { getSandboxMachine } from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import { decryptSecret } from '../../lib/secrets';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';
import { historyText } from '../helpers/history';

let api: TestApi;
let privateKey: string;

beforeAll(async () => {
  // No worker here: a cluster member's reboot asks ok-to-stop through a dry run nobody answers, so
  // it starts after this bound (the workflow's own gate decides; docs/api.md).
  api = await startTestApi({ NF_PRECHECK_TIMEOUT_MS: '500' });
  privateKey = generateSshKey().privateKey;
});
afterAll(async () => api?.close());

/** What the worker does at the end of an operation: final state written, locks released. */
async function completeOperation(operationId: string): Promise<void> {
  await finishOperation(api.db, operationId, {
    status: 'completed',
    progress: 100,
    current_step: null,
    steps: [],
    logs: [],
    error: null,
    result: null,
    started_at: new Date().toISOString(),
    completed_at: new Date().toISOString(),
  });
}

/** A registered node whose inventory "finished": status ready, no lock. */
/** A HEALTH_OK sandbox cluster row with these nodes as its online members (no workflow ran). */
async function clusterOf(members: { id: string }[]): Promise<string> {
  const clusterId = newId('cluster');
  await api.db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: api.account.accountId,
      environment: 'sandbox',
      name: `c-${clusterId}`,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
    })
    .execute();
  await api.db
    .updateTable('nodes')
    .set({ cluster_id: clusterId, status: 'online' })
    .where(
      'id',
      'in',
      members.map((m) => m.id),
    )
    .execute();
  return clusterId;
}

async function readyNode(key = api.account.keys.test, body = nodeBody(privateKey)): Promise<any> {
  const r = await api.request('POST', '/v1/nodes', { key, body });
  expect(r.status).toBe(202);
  await completeOperation(r.body.data.operation_id);
  await api.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', r.body.data.id).execute();
  return r.body.data;
}

describe('POST /v1/nodes', () => {
  it('registers a node: 202, status pending, the inventory operation, defaults applied', async () => {
    const body = nodeBody(privateKey, { rack: 'r1', zone: 'z1' });
    const r = await api.request('POST', '/v1/nodes', { body });
    expect(r.status).toBe(202);
    const node = r.body.data;
    expect(node).toMatchObject({
      hostname: body.hostname,
      status: 'pending',
      state: 'ready',
      held: false,
      cluster_id: null,
      ip_address: body.ip_address,
      ssh_port: 22,
      ssh_user: 'nodefoundry',
      ipmi_address: body.ipmi_address,
      ipmi_port: 623,
      ipmi_username: 'admin',
      ssh_host_key_fingerprint: null,
      cpu_cores: null,
      ram_gb: null,
      drives: [],
      rack: 'r1',
      zone: 'z1',
    });
    expect(node.id).toMatch(/^node_/);
    expect(node.operation_id).toMatch(/^op_/);
    expect(node.current_operation_id).toBe(node.operation_id);

    const op = await api.request('GET', `/v1/operations/${node.operation_id}`);
    expect(op.status).toBe(200);
    expect(op.body.data).toMatchObject({
      id: node.operation_id,
      type: 'node.register',
      node_id: node.id,
      request_id: r.headers.get('x-request-id'),
    });
    expect(op.body.data.temporal.workflow_id).toBe(`${node.id}/register/${node.operation_id}`);
    const desc = await api.client.workflow.getHandle(op.body.data.temporal.workflow_id).describe();
    expect(desc.type).toBe('registerNodeWorkflow');
    expect(desc.taskQueue).toBe(api.config.temporal.taskQueue);
  });

  it('racks the simulated machine for a sandbox node, and none for a live node', async () => {
    const body = nodeBody(privateKey);
    const r = await api.request('POST', '/v1/nodes', { body });
    const machine = await getSandboxMachine(api.db, api.account.accountId, String(body.ipmi_address));
    expect(machine).toMatchObject({ hostname: body.hostname, ip_address: body.ip_address, power_state: 'on' });
    expect(r.status).toBe(202);
    const live = nodeBody(privateKey);
    expect((await api.request('POST', '/v1/nodes', { key: api.account.keys.live, body: live })).status).toBe(202);
    expect(await getSandboxMachine(api.db, api.account.accountId, String(live.ipmi_address))).toBeNull();
  });

  it('keeps credentials secret: encrypted at rest, never in a response, a log line or the workflow history', async () => {
    const key = generateSshKey().privateKey;
    const keyBody = key.split('\n')[1]!;
    const password = `Pw-${Math.random().toString(36).slice(2, 12)}`;
    const r = await api.request('POST', '/v1/nodes', { body: nodeBody(key, { ipmi_password: password }) });
    expect(r.status).toBe(202);
    const { id, operation_id } = r.body.data;

    const row = await api.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.ipmi_password_enc).toMatch(/^v1:/);
    expect(row.ipmi_password_enc).not.toContain(password);
    expect(row.ssh_private_key_enc).not.toContain(keyBody);
    expect(decryptSecret(api.config.secretKey, row.ipmi_password_enc)).toBe(password);
    expect(decryptSecret(api.config.secretKey, row.ssh_private_key_enc)).toBe(key);

    const responses = [
      r.text,
      (await api.request('GET', `/v1/nodes/${id}`)).text,
      (await api.request('GET', '/v1/nodes?per_page=100')).text,
      (await api.request('GET', `/v1/operations/${operation_id}`)).text,
      (await api.request('GET', `/v1/operations?node_id=${id}`)).text,
      (await api.request('GET', `/v1/sandbox/machines/${id}`)).text,
    ];
    for (const text of responses) {
      expect(text).toContain(id);
      expect(text).not.toContain(password);
      expect(text).not.toContain(keyBody);
      expect(text).not.toMatch(/_enc"|PRIVATE KEY/);
    }
    expect(api.logs.join('\n')).not.toContain(password);
    expect(api.logs.join('\n')).not.toContain(keyBody);

    const op = (await api.request('GET', `/v1/operations/${operation_id}`)).body.data;
    const history = await api.client.workflow.getHandle(op.temporal.workflow_id).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const input = JSON.parse(Buffer.from(started!.input!.payloads![0]!.data!).toString('utf8'));
    expect(input).toEqual({ operationId: operation_id, accountId: api.account.accountId, nodeId: id });
    const text = historyText(history);
    expect(text).toContain(id);
    expect(text).not.toContain(password);
    expect(text).not.toContain(keyBody);
    expect(text).not.toContain(Buffer.from(password).toString('base64'));
  });

  it('refuses a duplicate ip_address or ipmi_address with 409 address_in_use naming the field and the node', async () => {
    const first = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const existing = first.body.data;
    const dupIp = await api.request('POST', '/v1/nodes', {
      body: nodeBody(privateKey, { ip_address: existing.ip_address }),
    });
    expect(dupIp.status).toBe(409);
    expect(dupIp.body.error).toMatchObject({ code: 'address_in_use', field: 'ip_address', node_id: existing.id });
    const dupIpmi = await api.request('POST', '/v1/nodes', {
      body: nodeBody(privateKey, { ipmi_address: existing.ipmi_address }),
    });
    expect(dupIpmi.status).toBe(409);
    expect(dupIpmi.body.error).toMatchObject({ code: 'address_in_use', field: 'ipmi_address', node_id: existing.id });
    // A refused registration leaves nothing behind: no node, no operation, no lock.
    const ops = await api.db
      .selectFrom('operations')
      .select('id')
      .where('request_id', '=', dupIp.body.error.request_id)
      .execute();
    expect(ops).toEqual([]);
  });

  it('treats two spellings of one IPv6 address as the same machine', async () => {
    const first = await api.request('POST', '/v1/nodes', {
      body: nodeBody(privateKey, { ip_address: '2001:db8:0:0::a1' }),
    });
    expect(first.status).toBe(202);
    expect(first.body.data.ip_address).toBe('2001:db8::a1');
    const again = await api.request('POST', '/v1/nodes', {
      body: nodeBody(privateKey, { ip_address: '2001:DB8::A1' }),
    });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'address_in_use',
      field: 'ip_address',
      node_id: first.body.data.id,
    });
  });

  it('lets only one of concurrent registrations of one address win', async () => {
    const ipmi = nodeBody(privateKey).ipmi_address;
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        api.request('POST', '/v1/nodes', { body: nodeBody(privateKey, { ipmi_address: ipmi }) }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409]);
    const winner = results.find((r) => r.status === 202)!.body.data.id;
    for (const r of results.filter((x) => x.status === 409)) {
      expect(r.body.error).toMatchObject({ code: 'address_in_use', field: 'ipmi_address', node_id: winner });
    }
  });

  it('scopes addresses: live addresses are one fleet across accounts; each sandbox account has its own', async () => {
    const other = await api.newAccount();
    const live = nodeBody(privateKey);
    expect((await api.request('POST', '/v1/nodes', { key: api.account.keys.live, body: live })).status).toBe(202);
    const liveDup = await api.request('POST', '/v1/nodes', {
      key: other.keys.live,
      body: { ...live, hostname: 'other' },
    });
    expect(liveDup.status).toBe(409);
    expect(liveDup.body.error.code).toBe('address_in_use');
    // The other account must not learn which node of another account holds the address.
    expect(liveDup.body.error.node_id).toBeUndefined();
    const sandbox = nodeBody(privateKey);
    expect((await api.request('POST', '/v1/nodes', { key: api.account.keys.test, body: sandbox })).status).toBe(202);
    expect((await api.request('POST', '/v1/nodes', { key: other.keys.test, body: sandbox })).status).toBe(202);
  });
});

describe('GET /v1/nodes', () => {
  it('lists newest first with page/per_page/meta and filters by status, hold and cluster', async () => {
    const acct = await api.newAccount();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await readyNode(acct.keys.test)).id);
    const pending = (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body
      .data.id;
    const all = await api.request('GET', '/v1/nodes', { key: acct.keys.test });
    expect(all.body.meta).toEqual({ page: 1, per_page: 25, total: 4 });
    expect(all.body.data.map((n: any) => n.id)).toEqual([pending, ...ids.reverse()]);

    const page2 = await api.request('GET', '/v1/nodes?page=2&per_page=3', { key: acct.keys.test });
    expect(page2.body.meta).toEqual({ page: 2, per_page: 3, total: 4 });
    expect(page2.body.data.map((n: any) => n.id)).toEqual([ids[2]]);

    const ready = await api.request('GET', '/v1/nodes?status=ready', { key: acct.keys.test });
    expect(ready.body.meta.total).toBe(3);
    await api.request('PATCH', `/v1/nodes/${ids[0]}`, { key: acct.keys.test, body: { state: 'hold' } });
    const held = await api.request('GET', '/v1/nodes?status=hold', { key: acct.keys.test });
    expect(held.body.data.map((n: any) => n.id)).toEqual([ids[0]]);

    const clusterId = newId('cluster');
    await api.db
      .insertInto('clusters')
      .values({
        id: clusterId,
        account_id: acct.accountId,
        environment: 'sandbox',
        name: 'c1',
        status: 'HEALTH_OK',
        ceph_version: 'reef',
      })
      .execute();
    await api.db
      .updateTable('nodes')
      .set({ cluster_id: clusterId, status: 'online' })
      .where('id', 'in', [ids[1]!, ids[2]!])
      .execute();
    const inCluster = await api.request('GET', `/v1/nodes?cluster_id=${clusterId}`, { key: acct.keys.test });
    expect(inCluster.body.data.map((n: any) => n.id).sort()).toEqual([ids[1], ids[2]].sort());
    expect(inCluster.body.data.every((n: any) => n.cluster_id === clusterId)).toBe(true);
  });
});

describe('PATCH /v1/nodes/{id}', () => {
  it('holds and releases a node (200 with the node), and a held node refuses a reboot with 409 node_held', async () => {
    const node = await readyNode();
    const hold = await api.request('PATCH', `/v1/nodes/${node.id}`, { body: { state: 'hold' } });
    expect(hold.status).toBe(200);
    expect(hold.body.data).toMatchObject({ id: node.id, state: 'hold', held: true, status: 'ready' });
    const refused = await api.request('POST', `/v1/nodes/${node.id}/reboot`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('node_held');
    const release = await api.request('PATCH', `/v1/nodes/${node.id}`, { body: { state: 'ready' } });
    expect(release.body.data).toMatchObject({ state: 'ready', held: false });
    expect((await api.request('POST', `/v1/nodes/${node.id}/reboot`, { body: {} })).status).toBe(202);
  });
});

describe('POST /v1/clusters/{id}/upgrade with a held member (issue 12 #4)', () => {
  it('is 409 node_held naming the held nodes, nothing started; released, the upgrade is accepted', async () => {
    const members = [await readyNode(), await readyNode(), await readyNode()];
    const clusterId = await clusterOf(members);
    const held = members[1];
    expect((await api.request('PATCH', `/v1/nodes/${held.id}`, { body: { state: 'hold' } })).status).toBe(200);
    const refused = await api.request('POST', `/v1/clusters/${clusterId}/upgrade`, { body: { ceph_version: 'squid' } });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'node_held']);
    expect(refused.body.error.node_ids).toEqual([held.id]);
    expect(refused.body.error.message).toContain(held.hostname);
    const ops = await api.request('GET', `/v1/operations?cluster_id=${clusterId}`);
    expect(ops.body.data).toEqual([]);
    expect((await api.request('PATCH', `/v1/nodes/${held.id}`, { body: { state: 'ready' } })).status).toBe(200);
    const accepted = await api.request('POST', `/v1/clusters/${clusterId}/upgrade`, {
      body: { ceph_version: 'squid' },
    });
    expect(accepted.status).toBe(202);
  });
});

describe('POST /v1/nodes/{id}/reboot', () => {
  it('starts the reboot: 202 with operation_id, node_id, status pending; the workflow gets ids and options only', async () => {
    const node = await readyNode();
    const r = await api.request('POST', `/v1/nodes/${node.id}/reboot`, { body: { method: 'hard', drain_osds: false } });
    expect(r.status).toBe(202);
    expect(r.body.data).toEqual({ operation_id: expect.stringMatching(/^op_/), node_id: node.id, status: 'pending' });
    const op = (await api.request('GET', `/v1/operations/${r.body.data.operation_id}`)).body.data;
    expect(op).toMatchObject({ type: 'node.reboot', node_id: node.id, params: { method: 'hard', drain_osds: false } });
    const history = await api.client.workflow.getHandle(op.temporal.workflow_id).fetchHistory();
    const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!.data!;
    expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toEqual({
      operationId: op.id,
      accountId: api.account.accountId,
      nodeId: node.id,
      method: 'hard',
      drainOsds: false,
    });
    expect((await api.request('GET', `/v1/nodes/${node.id}`)).body.data.current_operation_id).toBe(op.id);
  });

  it('refuses a node that is not ready or online with 409 invalid_state', async () => {
    const r = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    await completeOperation(r.body.data.operation_id);
    const refused = await api.request('POST', `/v1/nodes/${r.body.data.id}/reboot`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'invalid_state', status: 'pending' });
  });

  it('under 10 concurrent requests for one node: exactly one 202, nine 409 resource_busy naming the running operation', async () => {
    const node = await readyNode();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        api.request('POST', `/v1/nodes/${node.id}/reboot`, { body: { method: 'graceful' } }),
      ),
    );
    const accepted = results.filter((r) => r.status === 202);
    const busy = results.filter((r) => r.status === 409);
    expect(accepted).toHaveLength(1);
    expect(busy).toHaveLength(9);
    const running = accepted[0]!.body.data.operation_id;
    for (const r of busy) {
      expect(r.body.error).toMatchObject({ code: 'resource_busy', operation_id: running, resource_id: node.id });
      expect(r.body.error.message).toContain(running);
    }
    const reboots = await api.db
      .selectFrom('operations')
      .select('id')
      .where('node_id', '=', node.id)
      .where('type', '=', 'node.reboot')
      .execute();
    expect(reboots.map((o) => o.id)).toEqual([running]);
  });

  it('keeps a lock whose workflow is still being started, and settles one orphaned by a crashed API process', async () => {
    const node = await readyNode();
    // Another API process committed its lock and is about to call workflow.start: no workflow yet.
    const inFlight = newId('operation');
    await api.db
      .insertInto('operations')
      .values({
        id: inFlight,
        account_id: api.account.accountId,
        environment: 'sandbox',
        type: 'node.reboot',
        status: 'pending',
        node_id: node.id,
        request_id: 'req_other',
        workflow_id: `${node.id}/reboot/${inFlight}`,
      })
      .execute();
    await api.db.insertInto('operation_locks').values({ resource_id: node.id, operation_id: inFlight }).execute();
    const busy = await api.request('POST', `/v1/nodes/${node.id}/reboot`);
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'resource_busy', operation_id: inFlight });
    // The same lock two minutes later: its process died before starting the workflow.
    await api.db
      .updateTable('operations')
      .set({ created_at: new Date(Date.now() - 120_000) })
      .where('id', '=', inFlight)
      .execute();
    const after = await api.request('POST', `/v1/nodes/${node.id}/reboot`);
    expect(after.status).toBe(202);
  });

  it('a lock released between its insert and the read of its holder is taken, not a 500 (chaos seed 33)', async () => {
    const node = await readyNode();
    const ended = newId('operation');
    await api.db
      .insertInto('operations')
      .values({
        id: ended,
        account_id: api.account.accountId,
        environment: 'sandbox',
        type: 'node.reboot',
        status: 'completed',
        node_id: node.id,
        request_id: 'req_ended',
        workflow_id: `${node.id}/reboot/${ended}`,
      })
      .execute();
    await api.db.insertInto('operation_locks').values({ resource_id: node.id, operation_id: ended }).execute();
    // The holder's release lands right after the INSERT … ON CONFLICT DO NOTHING that found its row:
    // a statement trigger (it fires even when no row was inserted) deletes the row at that moment.
    const fn = `nf_test_release_${ended.slice(-8)}`;
    await sql
      .raw(
        `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM operation_locks WHERE operation_id = '${ended}'; RETURN NULL; END $$`,
      )
      .execute(api.db);
    await sql
      .raw(`CREATE TRIGGER ${fn} AFTER INSERT ON operation_locks FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`)
      .execute(api.db);
    try {
      const r = await api.request('POST', `/v1/nodes/${node.id}/reboot`, { body: { method: 'graceful' } });
      expect(r.status).toBe(202);
      const lock = await api.db
        .selectFrom('operation_locks')
        .select('operation_id')
        .where('resource_id', '=', node.id)
        .executeTakeFirst();
      expect(lock?.operation_id).toBe(r.body.data.operation_id);
    } finally {
      await sql.raw(`DROP TRIGGER ${fn} ON operation_locks`).execute(api.db);
      await sql.raw(`DROP FUNCTION ${fn}()`).execute(api.db);
    }
  });

  it("locks the node's cluster too: a reboot of another member of the cluster is busy", async () => {
    const a = await readyNode();
    const b = await readyNode();
    const clusterId = await clusterOf([a, b]);
    const first = await api.request('POST', `/v1/nodes/${a.id}/reboot`);
    expect(first.status).toBe(202);
    const second = await api.request('POST', `/v1/nodes/${b.id}/reboot`);
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({
      code: 'resource_busy',
      operation_id: first.body.data.operation_id,
      resource_id: clusterId,
    });
  });
});

describe('DELETE /v1/nodes/{id}', () => {
  it('refuses while an operation runs (409 resource_busy naming it), then deletes (204) once it ended', async () => {
    const r = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const busy = await api.request('DELETE', `/v1/nodes/${r.body.data.id}`);
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'resource_busy', operation_id: r.body.data.operation_id });
    await completeOperation(r.body.data.operation_id);
    const del = await api.request('DELETE', `/v1/nodes/${r.body.data.id}`);
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect((await api.request('GET', `/v1/nodes/${r.body.data.id}`)).status).toBe(404);
    expect((await api.request('DELETE', `/v1/nodes/${r.body.data.id}`)).status).toBe(404);
  });

  it('refuses a node in a cluster with 409 invalid_state', async () => {
    const node = await readyNode();
    const clusterId = newId('cluster');
    await api.db
      .insertInto('clusters')
      .values({
        id: clusterId,
        account_id: api.account.accountId,
        environment: 'sandbox',
        name: `c-${clusterId}`,
        status: 'HEALTH_OK',
        ceph_version: 'reef',
      })
      .execute();
    await api.db.updateTable('nodes').set({ cluster_id: clusterId }).where('id', '=', node.id).execute();
    const r = await api.request('DELETE', `/v1/nodes/${node.id}`);
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'invalid_state', cluster_id: clusterId });
  });

  it('races a concurrent reboot safely: either the delete wins (reboot 404) or the reboot does (delete 409), never both', async () => {
    for (let i = 0; i < 5; i++) {
      const node = await readyNode();
      const [del, reboot] = await Promise.all([
        api.request('DELETE', `/v1/nodes/${node.id}`),
        api.request('POST', `/v1/nodes/${node.id}/reboot`),
      ]);
      const outcome = [del.status, reboot.status];
      expect([
        [204, 404],
        [409, 202],
      ]).toContainEqual(outcome);
      if (del.status === 409) expect(del.body.error.operation_id).toBe(reboot.body.data.operation_id);
    }
  });
});
