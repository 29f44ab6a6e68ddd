import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createApp } from '../../api/app';
import { json, type Database } from '../../db/database';
import { addressScope, listNodesWithLocks } from '../../db/repositories/nodes.repository';
import { listScopedOsdsWithLocks } from '../../db/repositories/osds.repository';
import { insertOperation } from '../../db/repositories/operations.repository';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { startTestApi, type TestApi } from '../helpers/api';

/**
 * Issue 14: the list pages of a big cluster answer in as few PostgreSQL round trips as their content
 * needs — the key's lookup, then ONE query for the page, its lock holders and the total (before:
 * GET /v1/nodes made 4, GET /v1/clusters/{id}/osds made 5; under concurrent load each is a wait for
 * a pooled connection, and the list pages fell to 0.4–0.5 × a bare Koa + pg server's throughput).
 * The answers are unchanged: page, total, current_operation_id, 404 across accounts.
 *
 * A second app on the same database counts every query it sends (kysely's log hook).
 */
let api: TestApi;
let server: Server;
let base: string;
let countingDb: Kysely<Database>;
const queries: string[] = [];
let clusterId: string;
const nodeIds: string[] = [];
let lockedOperationId: string;

beforeAll(async () => {
  api = await startTestApi();
  const pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 5 });
  countingDb = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      // The housekeeper's purges (expired idempotency keys, old rate-limit windows) run in the
      // background of the process's first request, whenever they land: not the request's queries.
      if (/^delete from "(idempotency_keys|rate_limit_windows)"/.test(event.query.sql)) return;
      queries.push(event.query.sql);
    },
  });
  const app = createApp({
    db: countingDb as never,
    temporal: api.client,
    config: api.config,
    logger: createLogger('silent', { component: 'api' }),
    instanceId: api.instanceId,
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const accountId = api.account.accountId;
  clusterId = newId('cluster');
  for (let i = 0; i < 3; i++) nodeIds.push(newId('node'));
  await api.db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: `rt-${clusterId.slice(-6)}`,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      admin_node_id: nodeIds[0]!,
    })
    .execute();
  const tag = Math.floor(Math.random() * 200);
  await api.db
    .insertInto('nodes')
    .values(
      nodeIds.map((id, i) => ({
        id,
        account_id: accountId,
        environment: 'sandbox' as const,
        address_scope: addressScope('sandbox', accountId),
        cluster_id: clusterId,
        hostname: `rt-${i}`,
        ip_address: `10.77.${tag}.${i + 1}`,
        ssh_user: 'nodefoundry',
        ssh_private_key_enc: 'v1:unused',
        ipmi_address: `11.77.${tag}.${i + 1}`,
        ipmi_username: 'admin',
        ipmi_password_enc: 'v1:unused',
        status: 'online' as const,
        drives: json([]),
      })),
    )
    .execute();
  await api.db
    .insertInto('osds')
    .values(
      Array.from({ length: 6 }, (_, n) => ({
        cluster_id: clusterId,
        osd_id: n,
        node_id: nodeIds[n % 3]!,
        host: `rt-${n % 3}`,
        device: `/dev/sd${'bcdefg'[n]}`,
        crush_weight: 1,
        capacity_gb: 1000,
        updated_at: new Date(),
      })),
    )
    .execute();
  // An operation holding osd.3 and the newest node, as a running reweight or reboot would.
  lockedOperationId = newId('operation');
  await insertOperation(api.db, {
    id: lockedOperationId,
    account_id: accountId,
    environment: 'sandbox',
    type: 'osd.reweight',
    status: 'in_progress',
    cluster_id: clusterId,
    request_id: 'req_round_trips',
    workflow_id: `rt-${lockedOperationId}`,
    params: json({}),
  });
  await api.db
    .insertInto('operation_locks')
    .values([
      { resource_id: `${clusterId}/osd.3`, operation_id: lockedOperationId },
      { resource_id: nodeIds[2]!, operation_id: lockedOperationId },
    ])
    .execute();
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    server?.closeAllConnections();
  });
  await countingDb?.destroy();
  await api?.close();
});

/** GET with the default account's sandbox key; the queries the counting app sent for it. */
async function get(
  path: string,
  key = api.account.keys.test,
): Promise<{ status: number; body: any; queries: string[] }> {
  const from = queries.length;
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json(), queries: queries.slice(from) };
}

describe('list pages: one round trip for the page, its locks and its total', () => {
  beforeAll(async () => {
    // The key's first use of the minute also records last_used_at: not part of a list's cost.
    expect((await get('/v1/nodes?per_page=1')).status).toBe(200);
  });

  it('GET /v1/clusters/{id}/osds: key + one query, page, total and lock holder as before', async () => {
    const r = await get(`/v1/clusters/${clusterId}/osds?per_page=2&page=2`);
    expect(r.status).toBe(200);
    expect(r.body.data.map((o: any) => o.osd_id)).toEqual([2, 3]);
    expect(r.body.data.map((o: any) => o.current_operation_id)).toEqual([null, lockedOperationId]);
    expect(r.body.meta).toEqual({ page: 2, per_page: 2, total: 6 });
    expect(r.queries, r.queries.join('\n')).toHaveLength(2);
  });

  it('GET /v1/clusters/{id}/osds past the last page: empty, with the total', async () => {
    const r = await get(`/v1/clusters/${clusterId}/osds?per_page=4&page=3`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: [], meta: { page: 3, per_page: 4, total: 6 } });
  });

  it("another account's cluster is 404 cluster_not_found, as an unknown one", async () => {
    const other = await api.newAccount();
    const r = await get(`/v1/clusters/${clusterId}/osds`, other.keys.test);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('cluster_not_found');
    // The same cluster from its own account's live key (another environment): not found either.
    const live = await get(`/v1/clusters/${clusterId}/osds`, api.account.keys.live);
    expect(live.status).toBe(404);
  });

  it('GET /v1/nodes: key + one query, page, total and lock holder as before', async () => {
    const r = await get(`/v1/nodes?cluster_id=${clusterId}&per_page=2`);
    expect(r.status).toBe(200);
    // Newest first: the nodes were inserted together, so the id breaks the tie (descending).
    const expected = [...nodeIds].sort().reverse().slice(0, 2);
    expect(r.body.data.map((n: any) => n.id)).toEqual(expected);
    expect(r.body.data.map((n: any) => n.current_operation_id)).toEqual(
      expected.map((id) => (id === nodeIds[2] ? lockedOperationId : null)),
    );
    expect(r.body.meta).toEqual({ page: 1, per_page: 2, total: 3 });
    expect(r.queries, r.queries.join('\n')).toHaveLength(2);
    const past = await get(`/v1/nodes?cluster_id=${clusterId}&per_page=2&page=5`);
    expect(past.body).toEqual({ data: [], meta: { page: 5, per_page: 2, total: 3 } });
  });
});

describe('list pages: their statements are prepared once per connection', () => {
  it("the API's own database handle runs them as named prepared statements, with the same answers", async () => {
    const scope = { accountId: api.account.accountId, environment: 'sandbox' as const };
    await api.db.connection().execute(async (conn) => {
      const filters = [{}, { clusterId }, { status: 'online' as const }, { clusterId, status: 'hold' as const }];
      for (const filter of filters) {
        for (const page of [
          { limit: 2, offset: 0 },
          { limit: 2, offset: 50 },
        ]) {
          // Prepared (the API's createDb handle) and unnamed (this file's own pool): same answer.
          expect(await listNodesWithLocks(conn, scope, filter, page)).toEqual(
            await listNodesWithLocks(countingDb, scope, filter, page),
          );
        }
      }
      for (const page of [
        { limit: 2, offset: 2 },
        { limit: 4, offset: 8 },
      ]) {
        expect(await listScopedOsdsWithLocks(conn, scope, clusterId, page)).toEqual(
          await listScopedOsdsWithLocks(countingDb, scope, clusterId, page),
        );
      }
      expect(
        await listScopedOsdsWithLocks(conn, { ...scope, environment: 'live' }, clusterId, { limit: 2, offset: 0 }),
      ).toBeUndefined();
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(conn);
      const texts = rows.map((r) => r.statement);
      expect(texts.some((t) => t.includes('from "nodes"') && t.includes('operation_locks'))).toBe(true);
      expect(texts.some((t) => t.includes('from osds') && t.includes('operation_locks'))).toBe(true);
    });
  });
});
