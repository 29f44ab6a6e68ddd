import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../db/migrations/2026-12-05-0004-node-online';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

/**
 * Migration 2026-12-05-0004-node-online (issue 11): nodes stored as `active` (the old word) read as
 * `online` afterwards, through the API, without a node.status_changed event (a rename is not a
 * change of the machine) and without touching updated_at; other statuses are left as they are.
 */
let api: TestApi;
let privateKey: string;

beforeAll(async () => {
  api = await startTestApi();
  privateKey = generateSshKey().privateKey;
});
afterAll(async () => api?.close());

describe('migration 2026-12-05-0004-node-online', () => {
  it('renames active to online without events; other statuses untouched', async () => {
    const acct = await api.newAccount();
    const register = async () =>
      (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body.data;
    const [old, other] = [await register(), await register()];
    // Rows as a database from before the migration holds them.
    await sql`update nodes set status = 'active', status_reason = 'kept' where id = ${old.id}`.execute(api.db);
    await sql`update nodes set status = 'error', status_reason = 'broken' where id = ${other.id}`.execute(api.db);
    const before = await api.db
      .selectFrom('nodes')
      .select(['id', 'updated_at'])
      .where('id', '=', old.id)
      .executeTakeFirstOrThrow();
    const eventsOf = async (id: string) =>
      (await api.db.selectFrom('events').select('id').where('node_id', '=', id).execute()).length;
    const [evOld, evOther] = [await eventsOf(old.id), await eventsOf(other.id)];

    // As the migrator runs it: in one transaction.
    await api.db.transaction().execute(async (trx) => up(trx));

    const got = (await api.request('GET', `/v1/nodes/${old.id}`, { key: acct.keys.test })).body.data;
    expect(got).toMatchObject({ status: 'online', status_reason: 'kept' });
    expect((await api.request('GET', `/v1/nodes/${other.id}`, { key: acct.keys.test })).body.data).toMatchObject({
      status: 'error',
      status_reason: 'broken',
    });
    const after = await api.db
      .selectFrom('nodes')
      .select('updated_at')
      .where('id', '=', old.id)
      .executeTakeFirstOrThrow();
    expect(after.updated_at.toISOString()).toBe(before.updated_at.toISOString());
    expect(await eventsOf(old.id)).toBe(evOld);
    expect(await eventsOf(other.id)).toBe(evOther);

    // The trigger is on again after the migration: a real change is an event.
    await sql`update nodes set status = 'offline', status_reason = 'ssh: test' where id = ${old.id}`.execute(api.db);
    expect(await eventsOf(old.id)).toBe(evOld + 1);
    const listed = await api.request('GET', '/v1/nodes?status=online', { key: acct.keys.test });
    expect(listed.body.data.map((n: any) => n.id)).toEqual([]);
  });
});
