import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createApp } from '../../api/app';
import { KeyCache } from '../../api/key-cache';
import { type Database, type Db } from '../../db/database';
import { setAccountPlan } from '../../db/repositories/accounts.repository';
import { createLogger } from '../../lib/logger';
import { startTestApi, type TestApi } from '../helpers/api';
import { testDb } from '../helpers/db';

/**
 * Issue 14: API processes keep the lookups of valid API keys (api/key-cache.ts), so a request pays
 * no key round trip, and a change to a key or a plan made anywhere — another API process, the admin
 * CLI, SQL — reaches every process by PostgreSQL NOTIFY (migration 0603). Here process A is the
 * usual test API and process B a second app with its own database handle, pool and listening
 * connection on the same database (as a second API process has); B counts the queries it sends.
 */
let api: TestApi;
let server: Server;
let base: string;
let bDb: Db;
let bCache: KeyCache;
let admin: Db;
const bQueries: string[] = [];
const bLogs: string[] = [];
const B_APP_NAME = `nf-key-cache-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  api = await startTestApi();
  admin = testDb(1);
  const pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 5 });
  bDb = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (/^delete from "(idempotency_keys|rate_limit_windows)"/.test(event.query.sql)) return;
      bQueries.push(event.query.sql);
    },
  }) as Db;
  const logger = createLogger('debug', { component: 'api-b' }, (line) => bLogs.push(line));
  bCache = new KeyCache({
    databaseUrl: api.config.databaseUrl,
    db: bDb,
    logger,
    applicationName: B_APP_NAME,
    // Long enough for the test to act while it is down, short enough to see it come back.
    reconnectMinMs: 1_500,
    reconnectMaxMs: 1_500,
  });
  await bCache.start();
  const app = createApp({ db: bDb, temporal: api.client, config: api.config, logger, keyCache: bCache });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    server?.closeAllConnections();
  });
  await bCache?.close();
  await bDb?.destroy();
  await admin?.destroy();
  await api?.close();
});

/** A GET on process B; the queries B sent for it. */
async function getB(path: string, key: string): Promise<{ status: number; headers: Headers; queries: string[] }> {
  const from = bQueries.length;
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return { status: res.status, headers: res.headers, queries: bQueries.slice(from) };
}

/** Polls `check` every 10 ms until it holds, for at most `ms` (then fails with `what`). */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const isKeyLookup = (q: string) => q.includes('"api_keys"') && q.includes('"key_hash"');

describe('kept key lookups', () => {
  it('a valid key is looked up once, then answered without its round trip', async () => {
    const acct = await api.newAccount();
    const first = await getB('/v1/nodes?per_page=1', acct.keys.test);
    expect(first.status).toBe(200);
    expect(first.queries.filter(isKeyLookup)).toHaveLength(1);
    const second = await getB('/v1/nodes?per_page=1', acct.keys.test);
    expect(second.status).toBe(200);
    // The list's own statement only: no key lookup (nor last_used_at write within the minute).
    expect(second.queries, second.queries.join('\n')).toHaveLength(1);
    expect(second.queries.filter(isKeyLookup)).toHaveLength(0);
  });

  it('a key revoked through another API process is refused by this one as soon as the notification arrives', async () => {
    const acct = await api.newAccount();
    expect((await getB('/v1/nodes', acct.keys.test)).status).toBe(200);
    const kept = await getB('/v1/nodes', acct.keys.test);
    expect(kept.status).toBe(200);
    expect(kept.queries.filter(isKeyLookup)).toHaveLength(0);

    // Revoked through process A (the API's DELETE), which B never hears of but by NOTIFY.
    const del = await api.request('DELETE', `/v1/api_keys/${acct.keyIds.test}`, { key: acct.keys.live });
    expect(del.status).toBe(204);
    // Refused well within the kept lookups' age bound (60 s): the notification, not the age, did it.
    const took = await within(2_000, 'B refuses the revoked key', async () => {
      return (await getB('/v1/nodes', acct.keys.test)).status === 401;
    });
    expect(took).toBeLessThan(2_000);
    // And for good: every later request too, and the account's other keys still work on B.
    for (let i = 0; i < 3; i++) expect((await getB('/v1/nodes', acct.keys.test)).status).toBe(401);
    expect((await getB('/v1/nodes', acct.keys.live)).status).toBe(200);
  });

  it("an account's plan changed elsewhere (admin CLI, SQL) is used by this process as soon as it is notified", async () => {
    const acct = await api.newAccount('enterprise');
    expect((await getB('/v1/nodes', acct.keys.test)).headers.get('x-ratelimit-limit')).toBe('unlimited');
    expect((await getB('/v1/nodes', acct.keys.test)).queries.filter(isKeyLookup)).toHaveLength(0);
    // Another process's handle (the admin CLI's): only the NOTIFY reaches B.
    await setAccountPlan(admin, acct.accountId, 'starter');
    await within(2_000, "B applies the account's new plan", async () => {
      return (await getB('/v1/nodes', acct.keys.test)).headers.get('x-ratelimit-limit') === '300';
    });
  });

  it('while its listening connection is down the cache is not used, and it comes back by itself', async () => {
    const acct = await api.newAccount();
    expect((await getB('/v1/nodes', acct.keys.test)).status).toBe(200);
    expect((await getB('/v1/nodes', acct.keys.test)).queries.filter(isKeyLookup)).toHaveLength(0);

    const onLines = () => bLogs.filter((l) => l.includes('key cache on')).length;
    const onBefore = onLines();
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${B_APP_NAME}`.execute(
      admin,
    );
    await within(5_000, 'B notices its listening connection is gone', async () =>
      bLogs.some((l) => l.includes('key cache off')),
    );
    expect(bCache.active).toBe(false);
    // Revoked by SQL while B cannot hear of it (its NOTIFY is lost to B): B looks the key up and refuses it.
    await admin.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', acct.keyIds.test).execute();
    const r = await getB('/v1/nodes', acct.keys.test);
    expect(r.status).toBe(401);
    expect(r.queries.filter(isKeyLookup)).toHaveLength(1);
    // It listens again (bounded backoff), and keeps lookups again.
    await within(5_000, 'B listens again', async () => onLines() > onBefore && bCache.active);
    expect((await getB('/v1/nodes', acct.keys.test)).status).toBe(401);
    expect((await getB('/v1/nodes', acct.keys.live)).status).toBe(200);
    expect((await getB('/v1/nodes', acct.keys.live)).queries.filter(isKeyLookup)).toHaveLength(0);
  });
});
