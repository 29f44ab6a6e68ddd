import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../api/main';
import { requestFingerprint } from '../../api/middleware/idempotency.middleware';
import { createLogger } from '../../lib/logger';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { testConfig } from '../helpers/config';
import { testDb, completeOperationRow } from '../helpers/db';
import { generateSshKey } from '../helpers/ssh-keys';

// Issue 8 #5: an answer lost with a killed API process. The claim its request made on the
// Idempotency-Key must not answer 409 for IDEMPOTENCY_STALE_CLAIM_SECONDS (300 s): a retry takes it
// over once the process is not seen for NF_API_LIVENESS_MS (here 3 s, refreshed every second).

let api: TestApi;
let privateKey: string;

beforeAll(async () => {
  api = await startTestApi({ NF_API_LIVENESS_MS: '3000' });
  privateKey = generateSshKey().privateKey;
});
afterAll(async () => api?.close());

async function readyNode(): Promise<string> {
  const r = await api.request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
  await completeOperationRow(api.db, r.body.data.operation_id);
  await api.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', r.body.data.id).execute();
  return r.body.data.id;
}

const key = () => `inst-${Math.random().toString(36).slice(2)}`;

/** The claim a request of API process `instanceId` left on `k` when it was killed (nothing bound). */
async function leftClaim(k: string, path: string, body: unknown, instanceId: string): Promise<void> {
  await api.db
    .insertInto('idempotency_keys')
    .values({
      account_id: api.account.accountId,
      key: k,
      request_hash: requestFingerprint('POST', path, 'sandbox', body),
      state: 'in_progress',
      claim_id: `dead-${k}`,
      claimed_by: instanceId,
    })
    .execute();
}

async function rebootOps(nodeId: string): Promise<string[]> {
  const ops = await api.db.selectFrom('operations').select(['id', 'type']).where('node_id', '=', nodeId).execute();
  return ops.filter((o) => o.type === 'node.reboot').map((o) => o.id);
}

describe('Idempotency-Key claims of API processes', () => {
  for (const how of ['its row is stale', 'its row is gone'] as const) {
    it(`a retry takes over at once the claim of a process that died (${how}) and runs the request once`, async () => {
      const nodeId = await readyNode();
      const k = key();
      const dead = `api_dead-${k}`;
      if (how === 'its row is stale') {
        await api.db
          .insertInto('api_instances')
          .values({
            id: dead,
            started_at: sql`now() - interval '1 hour'`,
            last_seen: sql`now() - interval '10 seconds'`,
          })
          .execute();
      }
      const path = `/v1/nodes/${nodeId}/reboot`;
      await leftClaim(k, path, {}, dead);
      const retry = await api.request('POST', path, { body: {}, headers: { 'idempotency-key': k } });
      expect(retry.status).toBe(202);
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
      expect(await rebootOps(nodeId)).toEqual([retry.body.data.operation_id]);
      const again = await api.request('POST', path, { body: {}, headers: { 'idempotency-key': k } });
      expect(again.status).toBe(202);
      expect(again.body.data.operation_id).toBe(retry.body.data.operation_id);
      expect(await rebootOps(nodeId)).toEqual([retry.body.data.operation_id]);
    });
  }

  it('a cancel whose process died is retried at once', async () => {
    const nodeId = await readyNode();
    const reboot = await api.request('POST', `/v1/nodes/${nodeId}/reboot`, { body: {} });
    expect(reboot.status).toBe(202);
    const k = key();
    const path = `/v1/operations/${reboot.body.data.operation_id}/cancel`;
    await leftClaim(k, path, undefined, `api_gone-${k}`);
    const retry = await api.request('POST', path, { headers: { 'idempotency-key': k } });
    expect(retry.status).toBeLessThan(300);
    const op = await api.db
      .selectFrom('operations')
      .select('cancel_requested_at')
      .where('id', '=', reboot.body.data.operation_id)
      .executeTakeFirstOrThrow();
    expect(op.cancel_requested_at).not.toBeNull();
  });

  it('an API key create whose process died is retried at once, creates one key and replays without the secret', async () => {
    const k = key();
    const body = { kind: 'test', name: `inst-${k}` };
    await leftClaim(k, '/v1/api_keys', body, `api_gone-${k}`);
    const retry = await api.request('POST', '/v1/api_keys', { body, headers: { 'idempotency-key': k } });
    expect(retry.status).toBe(201);
    expect(retry.body.data.key).toMatch(/\S/);
    const again = await api.request('POST', '/v1/api_keys', { body, headers: { 'idempotency-key': k } });
    expect(again.status).toBe(201);
    expect(again.body.data).toMatchObject({ id: retry.body.data.id, key: null });
    const keys = await api.db.selectFrom('api_keys').select('id').where('name', '=', body.name).execute();
    expect(keys.map((x) => x.id)).toEqual([retry.body.data.id]);
  });

  it('the claim of a live process still answers 409 idempotency_in_progress', async () => {
    const nodeId = await readyNode();
    const other = `api_other-${key()}`;
    await api.db.insertInto('api_instances').values({ id: other }).execute();
    for (const holder of [api.instanceId, other]) {
      const k = key();
      const path = `/v1/nodes/${nodeId}/reboot`;
      await leftClaim(k, path, {}, holder);
      const dup = await api.request('POST', path, { body: {}, headers: { 'idempotency-key': k } });
      expect(dup.status).toBe(409);
      expect(dup.body.error).toMatchObject({ code: 'idempotency_in_progress', field: 'Idempotency-Key' });
    }
    expect(await rebootOps(nodeId)).toEqual([]);
  });

  it('the API refreshes its instance row while it runs', async () => {
    const first = await api.db
      .selectFrom('api_instances')
      .select('last_seen')
      .where('id', '=', api.instanceId)
      .executeTakeFirstOrThrow();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = await api.db
        .selectFrom('api_instances')
        .select('last_seen')
        .where('id', '=', api.instanceId)
        .executeTakeFirstOrThrow();
      if (now.last_seen.getTime() > first.last_seen.getTime()) break;
      if (Date.now() > deadline) throw new Error('the instance row was never refreshed');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

it('startApi registers its instance and a graceful close deletes the row', async () => {
  const db = testDb(2);
  const api2 = await startApi(testConfig({ NF_HOST: '127.0.0.1', PORT: '0' }), {
    db,
    logger: createLogger('silent', {}),
  });
  try {
    expect(
      await db.selectFrom('api_instances').select('id').where('id', '=', api2.instanceId).executeTakeFirst(),
    ).toBeDefined();
    await api2.close();
    expect(
      await db.selectFrom('api_instances').select('id').where('id', '=', api2.instanceId).executeTakeFirst(),
    ).toBeUndefined();
  } finally {
    await api2.close();
    await db.destroy();
  }
});
