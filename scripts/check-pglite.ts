/**
 * Checks that the embedded PostgreSQL of `npm start` (PGlite behind @electric-sql/pglite-socket)
 * behaves like a server for the way NodeFoundry uses it: several pools (the API's and the worker's)
 * and a separate client (the admin CLI) at once, parameterised queries of different shapes in
 * parallel, failing statements, and transactions overlapping with plain queries.
 *
 *   npx tsx scripts/check-pglite.ts            # temporary data directory, removed afterwards
 *
 * Exit code 0 when every check holds; it prints what it measured. See docs/development.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { createDb, type Db } from '../db/database';
import { migrateToLatest } from '../db/migrate';
import { newId } from '../lib/ids';
import { startEmbeddedPostgres } from './lib/embedded-postgres';

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`check failed: ${message}`);
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  console.log(`ok  ${label} (${Math.round(performance.now() - t0)} ms)`);
  return out;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-pglite-check-'));
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pglite'), port: 0 });
  const api: Db = createDb(embedded.url, 10);
  const worker: Db = createDb(embedded.url, 10);
  try {
    await timed('migrations apply', () => migrateToLatest(api));
    const accountId = newId('account');
    await api.insertInto('accounts').values({ id: accountId, name: `check-${accountId}`, plan: 'starter' }).execute();

    // Different statement shapes interleaved across connections: with the extended query protocol
    // (Parse/Bind/Execute/Sync per query), mixing messages of two connections would hand one
    // connection the other's statement or result. Every answer is checked against its question.
    await timed('400 parallel parameterised queries of 4 shapes on 2 pools of 10', async () => {
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 400; i++) {
        const db = i % 2 ? api : worker;
        switch (i % 4) {
          case 0:
            jobs.push(sql<{ v: number }>`select ${i}::int * 2 as v`.execute(db).then((r) => assert(r.rows[0]?.v === i * 2, `double ${i}`)));
            break;
          case 1:
            jobs.push(sql<{ s: string }>`select ${'x' + i}::text || '-' || ${String(i)}::text as s`.execute(db)
              .then((r) => assert(r.rows[0]?.s === `x${i}-${i}`, `concat ${i}`)));
            break;
          case 2:
            jobs.push(db.insertInto('api_keys').values({ id: newId('key'), account_id: accountId, kind: 'test', name: `k${i}`, hint: 'h', key_hash: `hash-${i}` })
              .returning(['name']).executeTakeFirstOrThrow().then((r) => assert(r.name === `k${i}`, `insert ${i}`)));
            break;
          default:
            jobs.push(sql<{ n: string }>`select count(*)::text as n, ${i}::int as i from accounts where id = ${accountId}`.execute(db)
              .then((r) => assert(r.rows[0]?.n === '1', `count ${i}`)));
        }
      }
      await Promise.all(jobs);
    });

    // Large messages arrive in several TCP chunks; a small query of another connection must not slip
    // in between the chunks of one query (that would mix the two statements).
    await timed('large parameters (1 MB) in parallel with small queries', async () => {
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 90; i++) {
        if (i % 3 === 0) {
          const big = 'y'.repeat(1_000_000 + i);
          jobs.push(sql<{ n: number; i: number }>`select length(${big}::text) as n, ${i}::int as i`.execute(api)
            .then((r) => assert(r.rows[0]?.n === 1_000_000 + i && r.rows[0]?.i === i, `big ${i}`)));
        } else {
          jobs.push(sql<{ v: number }>`select ${i}::int * 3 as v`.execute(worker).then((r) => assert(r.rows[0]?.v === i * 3, `small ${i}`)));
        }
      }
      await Promise.all(jobs);
    });

    await timed('failing statements (unique violation) do not disturb other connections', async () => {
      const jobs: Promise<unknown>[] = [];
      let failures = 0;
      for (let i = 0; i < 60; i++) {
        if (i % 3 === 0) {
          jobs.push(api.insertInto('api_keys').values({ id: newId('key'), account_id: accountId, kind: 'test', name: 'dup', hint: 'h', key_hash: 'hash-2' })
            .execute().then(() => assert(false, 'duplicate accepted'), (e: { code?: string }) => { assert(e.code === '23505', `unique violation, got ${String(e.code)}`); failures++; }));
        } else {
          jobs.push(sql<{ v: number }>`select ${i}::int as v`.execute(worker).then((r) => assert(r.rows[0]?.v === i, `after-error ${i}`)));
        }
      }
      await Promise.all(jobs);
      assert(failures === 20, `20 failures expected, got ${failures}`);
    });

    await timed('30 parallel transactions (read-modify-write) with plain queries alongside', async () => {
      const opId = newId('operation');
      await api.insertInto('operations').values({
        id: opId, account_id: accountId, environment: 'sandbox', type: 'node.reboot', status: 'pending',
        request_id: 'req_check', workflow_id: `wf-${opId}`, progress: 0,
      }).execute();
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        const db = i % 2 ? api : worker;
        jobs.push(db.transaction().execute(async (trx) => {
          const row = await trx.selectFrom('operations').select('progress').where('id', '=', opId).executeTakeFirstOrThrow();
          await trx.updateTable('operations').set({ progress: row.progress + 1 }).where('id', '=', opId).execute();
        }));
        jobs.push(sql`select 1`.execute(i % 2 ? worker : api));
      }
      await Promise.all(jobs);
      const { progress } = await api.selectFrom('operations').select('progress').where('id', '=', opId).executeTakeFirstOrThrow();
      // Serialized transactions lose no update; a real server needs SELECT … FOR UPDATE for the same.
      assert(progress === 30, `30 increments expected, got ${progress}`);
    });

    await timed('uncommitted rows are invisible to other connections; a rolled back transaction leaves nothing', async () => {
      const id = newId('account');
      let seenInside = -1;
      let seenOutside = -1;
      const outside = new pg.Client({ connectionString: embedded.url });
      await outside.connect();
      try {
        await api.transaction().execute(async (trx) => {
          await trx.insertInto('accounts').values({ id, name: `rb-${id}`, plan: 'starter' }).execute();
          seenInside = (await trx.selectFrom('accounts').select('id').where('id', '=', id).execute()).length;
          // The other connection's query queues until this transaction ends; do not await it here
          // (that would deadlock: see docs/development.md).
          const pending = outside.query('select count(*)::int as n from accounts where id = $1', [id]).then((r) => { seenOutside = r.rows[0].n; });
          void pending;
          await new Promise((r) => setTimeout(r, 50));
          assert(seenOutside === -1, 'the outside query ran while the transaction was open');
          throw new Error('rollback');
        }).catch((e: Error) => assert(e.message === 'rollback', e.message));
        await new Promise((r) => setTimeout(r, 50));
        assert(seenInside === 1, 'the transaction sees its own row');
        assert(seenOutside === 0, `the outside query ran after the rollback and saw nothing (saw ${seenOutside})`);
      } finally {
        await outside.end();
      }
    });

    await timed('a separate client (admin CLI) works while both pools are busy', async () => {
      const busy = Array.from({ length: 50 }, (_, i) => sql`select pg_sleep(0.001), ${i}::int`.execute(i % 2 ? api : worker));
      const cli = new pg.Client({ connectionString: embedded.url });
      await cli.connect();
      const r = await cli.query('select count(*)::int as n from api_keys where account_id = $1', [accountId]);
      await cli.end();
      await Promise.all(busy);
      assert(r.rows[0].n === 100, `100 keys expected, got ${r.rows[0].n}`);
    });

    const stats = embedded.server.getStats();
    console.log(`connections open at the end: ${stats.activeConnections} of max ${stats.maxConnections}`);
  } finally {
    await api.destroy();
    await worker.destroy();
    await embedded.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => console.log('PGlite check passed'),
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
