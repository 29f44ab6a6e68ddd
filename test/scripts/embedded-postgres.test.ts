import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../db/database';
import { migrateToLatest } from '../../db/migrate';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../scripts/lib/embedded-postgres';
import { DATA_FILES } from '../../scripts/lib/paths';

/**
 * The embedded database of `npm start` (issue 8 #12: PGlite over pglite-socket mixed up concurrent
 * queries: "bind message supplies 2 parameters…", 401 with a valid key). Started exactly as
 * scripts/start.ts starts it, in a temporary data directory on a free port.
 */
describe('embedded PostgreSQL of npm start', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-embedded-pg-'));
  const options = {
    dataDir: path.join(dir, DATA_FILES.postgres),
    passwordFile: path.join(dir, DATA_FILES.postgresPassword),
    logFile: path.join(dir, DATA_FILES.postgresLog),
    port: 0,
  };
  let server: EmbeddedPostgres | undefined;
  let db: Db | undefined;

  afterAll(async () => {
    await db?.destroy();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 100 parallel mixed queries and transactions correctly, and keeps its data across a restart', async () => {
    server = await startEmbeddedPostgres(options);
    db = createDb(server.url, 10);
    await migrateToLatest(db);
    await sql`create table t_counter (id int primary key, n int not null)`.execute(db);
    await sql`create table t_items (k text primary key, v int not null, blob text not null)`.execute(db);
    await sql`insert into t_counter values (1, 0)`.execute(db);

    const d = db;
    // Four shapes with different parameter counts interleaved on one pool (what PGlite's socket
    // mixed up), read-modify-write transactions (lost updates), unique violations, large parameters.
    const jobs = Array.from({ length: 100 }, (_, i) => async (): Promise<void> => {
      switch (i % 5) {
        case 0: {
          const r = await sql<{ a: number; b: string }>`select ${i}::int as a, ${'x' + i}::text as b`.execute(d);
          expect(r.rows).toEqual([{ a: i, b: `x${i}` }]);
          break;
        }
        case 1: {
          const r = await sql<{ s: number }>`select (${i}::int + ${1}::int + ${2}::int) as s`.execute(d);
          expect(r.rows[0]!.s).toBe(i + 3);
          break;
        }
        case 2:
          await d.transaction().execute(async (trx) => {
            const row = await sql<{ n: number }>`select n from t_counter where id = 1 for update`.execute(trx);
            await sql`update t_counter set n = ${row.rows[0]!.n + 1} where id = 1`.execute(trx);
          });
          break;
        case 3: {
          const blob = String(i % 10).repeat(200_000);
          await sql`insert into t_items values (${`k${i}`}, ${i}, ${blob})`.execute(d);
          const back = await sql<{
            v: number;
            len: number;
          }>`select v, length(blob) as len from t_items where k = ${`k${i}`}`.execute(d);
          expect(back.rows).toEqual([{ v: i, len: 200_000 }]);
          break;
        }
        default: {
          // The same key twice: exactly one wins, the other gets a unique violation.
          await sql`insert into t_items values ('dup', ${i}, '')`
            .execute(d)
            .catch((e: { code?: string }) => expect(e.code).toBe('23505'));
          const accounts = await d.selectFrom('accounts').select('id').where('id', '=', `acct_none_${i}`).execute();
          expect(accounts).toEqual([]);
        }
      }
    });
    await Promise.all(jobs.map((j) => j()));

    const counter = await sql<{ n: number }>`select n from t_counter where id = 1`.execute(db);
    expect(counter.rows[0]!.n).toBe(20);
    const items = await sql<{ c: string }>`select count(*) as c from t_items`.execute(db);
    expect(Number(items.rows[0]!.c)).toBe(21); // 20 blobs + one 'dup'
    // Uncommitted rows are invisible to other connections; a rollback leaves nothing.
    await db
      .transaction()
      .execute(async (trx) => {
        await sql`insert into t_items values ('rolled-back', 0, '')`.execute(trx);
        const outside = await sql`select 1 from t_items where k = 'rolled-back'`.execute(d);
        expect(outside.rows).toEqual([]);
        throw new Error('roll back');
      })
      .catch((e: Error) => expect(e.message).toBe('roll back'));
    expect((await sql`select 1 from t_items where k = 'rolled-back'`.execute(db)).rows).toEqual([]);

    // Stop; a second start on the same directory finds the data (and the schema: nothing to migrate).
    await db.destroy();
    db = undefined;
    const firstPid = server.pid;
    await server.stop();
    expect(() => process.kill(firstPid, 0)).toThrow();
    server = await startEmbeddedPostgres(options);
    db = createDb(server.url, 10);
    expect(await migrateToLatest(db)).toEqual([]);
    expect((await sql<{ n: number }>`select n from t_counter where id = 1`.execute(db)).rows[0]!.n).toBe(20);
    expect(Number((await sql<{ c: string }>`select count(*) as c from t_items`.execute(db)).rows[0]!.c)).toBe(21);
  });
});
