import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createApp } from '../../api/app';
import type { Database } from '../../db/database';
import { finishOperation } from '../../db/repositories/operations.repository';
import { createLogger } from '../../lib/logger';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

/**
 * Issue 14: an accepted operation answers with its row as the run-id UPDATE … RETURNING wrote it,
 * not with an UPDATE then a SELECT of the same row (one PostgreSQL round trip fewer per accepted
 * request: under 50 concurrent clients each is a wait for a pooled connection). The answer is the
 * same: the operation, pending, with its run id recorded.
 *
 * A second app on the same database counts every query it sends (kysely's log hook).
 */
let api: TestApi;
let server: Server;
let base: string;
let countingDb: Kysely<Database>;
const queries: string[] = [];
const workflowIds: string[] = [];

beforeAll(async () => {
  api = await startTestApi();
  const pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 5 });
  countingDb = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
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
});

afterAll(async () => {
  // No worker runs here: the reboot's workflow is ended so nothing else picks it up.
  for (const id of workflowIds)
    await api.client.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => undefined);
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    server?.closeAllConnections();
  });
  await countingDb?.destroy();
  await api?.close();
});

describe('accepting an operation: few PostgreSQL round trips, no transaction held across them', () => {
  it('POST /v1/nodes/{id}/reboot: key, node, one start statement, run id (no SELECT of the operation after it)', async () => {
    const acct = await api.newAccount();
    const reg = await api.request('POST', '/v1/nodes', {
      key: acct.keys.test,
      body: nodeBody(generateSshKey().privateKey),
    });
    expect(reg.status).toBe(202);
    const regOp = await api.db
      .selectFrom('operations')
      .select('workflow_id')
      .where('id', '=', reg.body.data.operation_id)
      .executeTakeFirstOrThrow();
    workflowIds.push(regOp.workflow_id);
    await finishOperation(api.db, reg.body.data.operation_id, {
      status: 'completed',
      progress: 100,
      current_step: null,
      steps: [],
      logs: [],
      error: null,
      result: null,
      started_at: null,
      completed_at: new Date().toISOString(),
    });
    const nodeId: string = reg.body.data.id;
    await api.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', nodeId).execute();

    const from = queries.length;
    const res = await fetch(`${base}/v1/nodes/${nodeId}/reboot`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acct.keys.test}`, 'content-type': 'application/json' },
      body: JSON.stringify({ method: 'hard' }),
    });
    const body = (await res.json()) as any;
    const sent = queries.slice(from);
    expect(res.status, JSON.stringify(body)).toBe(202);
    const opId: string = body.data.operation_id;
    const row = await api.db.selectFrom('operations').selectAll().where('id', '=', opId).executeTakeFirstOrThrow();
    workflowIds.push(row.workflow_id);
    expect(row.run_id).not.toBeNull();
    expect(body.data.status).toBe('pending');

    // Besides the API key's statements (auth middleware), three PostgreSQL round trips (issue 14:
    // nine before, seven of them one transaction each request held a pooled connection through):
    // the node (with its row version), the start as one statement (scope, row, locks, precheck,
    // names; committed), the run id.
    const own = sent.filter((q) => !/"api_keys"/.test(q));
    expect(own, sent.join('\n')).toHaveLength(3);
    expect(own[0], sent.join('\n')).toMatch(/xmin::text.* from "nodes"/);
    expect(own[1], sent.join('\n')).toMatch(/^select nf_start_operation\(/);
    expect(
      sent.filter((q) => /^(begin|commit|rollback)/i.test(q)),
      sent.join('\n'),
    ).toEqual([]);
    // The operation was committed with its lock before the workflow started, as before.
    const lock = await api.db
      .selectFrom('operation_locks')
      .selectAll()
      .where('resource_id', '=', nodeId)
      .executeTakeFirstOrThrow();
    expect(lock.operation_id).toBe(opId);

    // The run id's UPDATE returns the row; nothing reads the operation again after it.
    const update = sent.findIndex((q) => q.startsWith('update "operations" set "run_id"'));
    expect(update, sent.join('\n')).toBeGreaterThanOrEqual(0);
    expect(sent[update]).toMatch(/returning \*/);
    expect(
      sent.slice(update + 1).filter((q) => /^select .* from "operations"/.test(q)),
      sent.join('\n'),
    ).toEqual([]);
  });
});
