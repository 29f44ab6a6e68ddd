import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityDeps } from '../../activities/deps';
import { createOperationActivities } from '../../activities/operations.activities';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { ApiError } from '../../api/errors';
import { pauseOrResumeOperation, settleIfClosed } from '../../api/services/operations.service';
import type { Operation } from '../../db/database';
import { finishOperation, type FinalState } from '../../db/repositories/operations.repository';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { nodeBody, startTestApi, type ApiResponse, type RequestOptions, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

/**
 * What the client is told, and what is left, when starting an operation's workflow goes wrong
 * (issue 8 #3–#6): the API runs with a Temporal client that can be made to fail around
 * workflow.start, as a gRPC deadline, a lost connection or a crash between commit and answer do.
 * No worker runs: a started workflow simply waits, so "it exists" is observable and nothing else.
 */
type Fault =
  | 'none'
  /** The start reaches Temporal, then the client sees an error (a deadline, a reset). */
  | 'start_then_throw'
  /** The start never leaves the process (a refused connection); Temporal answers describes. */
  | 'throw_before_send'
  /** Temporal cannot be reached at all: start and describe fail. */
  | 'unreachable'
  /** The start reaches Temporal and the API never answers (it died before the 202 went out). */
  | 'start_then_hang';

let api: TestApi;
let privateKey: string;
let fault: Fault = 'none';
let releaseHang: () => void = () => {};
let hang: Promise<void> = Promise.resolve();
let base = '';
let server: Server;
const logs: string[] = [];

function faultyTemporal(real: Client): Client {
  const injected = (what: string) => Object.assign(new Error(`injected: ${what}`), { code: 14 });
  const workflow = new Proxy(real.workflow, {
    get(target, prop) {
      if (prop === 'start') {
        return async (...args: Parameters<Client['workflow']['start']>) => {
          if (fault === 'throw_before_send' || fault === 'unreachable')
            throw injected('14 UNAVAILABLE: connect ECONNREFUSED');
          const handle = await target.start(...args);
          if (fault === 'start_then_throw') throw injected('4 DEADLINE_EXCEEDED: deadline exceeded');
          if (fault === 'start_then_hang') await hang;
          return handle;
        };
      }
      if (prop === 'getHandle') {
        return (...args: Parameters<Client['workflow']['getHandle']>) => {
          const handle = target.getHandle(...args);
          if (fault !== 'unreachable') return handle;
          return new Proxy(handle, {
            get: (h, p) =>
              p === 'describe' ? async () => Promise.reject(injected('14 UNAVAILABLE')) : Reflect.get(h, p, h),
          });
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'workflow') return workflow;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function request(
  method: string,
  path: string,
  options: RequestOptions & { signal?: AbortSignal } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {
    ...options.headers,
    authorization: `Bearer ${options.key ?? api.account.keys.test}`,
  };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body, signal: options.signal ?? null });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null, text };
}

beforeAll(async () => {
  api = await startTestApi();
  privateKey = generateSshKey().privateKey;
  const logger = createLogger('debug', { component: 'api' }, (line) => logs.push(line));
  const app = createApp({ db: api.db, temporal: faultyTemporal(api.client), config: api.config, logger });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  releaseHang();
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    server?.closeAllConnections();
  });
  await api?.close();
});

const ended: Omit<FinalState, 'status'> = {
  progress: 100,
  current_step: null,
  steps: [],
  logs: [],
  error: null,
  result: null,
  started_at: null,
  completed_at: new Date().toISOString(),
};

/** A registered node made ready (its registration recorded as completed), with one healthy drive. */
async function readyNode(): Promise<string> {
  fault = 'none';
  const r = await request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
  expect(r.status).toBe(202);
  await finishOperation(api.db, r.body.data.operation_id, { status: 'completed', ...ended });
  await api.db
    .updateTable('nodes')
    .set({
      status: 'ready',
      drives: JSON.stringify([{ device: '/dev/sdb', size_gb: 1000, type: 'hdd', smart_ok: true }]) as never,
    })
    .where('id', '=', r.body.data.id)
    .execute();
  return r.body.data.id;
}

async function locksOf(operationId: string): Promise<string[]> {
  const rows = await api.db
    .selectFrom('operation_locks')
    .select('resource_id')
    .where('operation_id', '=', operationId)
    .execute();
  return rows.map((r) => r.resource_id).sort();
}

async function rebootOps(nodeId: string): Promise<Operation[]> {
  return api.db
    .selectFrom('operations')
    .selectAll()
    .where('node_id', '=', nodeId)
    .where('type', '=', 'node.reboot')
    .execute();
}

async function workflowStatus(workflowId: string): Promise<string> {
  try {
    return (await api.client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

/** Polls `read` until `done` holds, at most `ms`. */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('an ambiguous workflow start (#3)', () => {
  it('a start that reached Temporal but answered an error is a 202: one workflow, locks held, a retry is 409 naming it', async () => {
    const nodeId = await readyNode();
    fault = 'start_then_throw';
    const first = await request('POST', `/v1/nodes/${nodeId}/reboot`, { body: { method: 'hard' } });
    expect([first.status, first.body.error?.message]).toEqual([202, undefined]);
    const opId = first.body.data.operation_id;
    const [op] = await rebootOps(nodeId);
    expect(op).toMatchObject({ id: opId, status: 'pending' });
    expect(op!.run_id).toMatch(/\S/);
    expect(await workflowStatus(op!.workflow_id)).toBe('RUNNING');
    expect(await locksOf(opId)).toEqual([nodeId]);

    fault = 'none';
    const retry = await request('POST', `/v1/nodes/${nodeId}/reboot`, { body: { method: 'hard' } });
    expect(retry.status).toBe(409);
    expect(retry.body.error).toMatchObject({ code: 'resource_busy', operation_id: opId, resource_id: nodeId });
    expect((await rebootOps(nodeId)).map((o) => o.id)).toEqual([opId]);
  });

  it('a database error while recording the run id does not disown the running workflow', async () => {
    const acct = await api.newAccount();
    fault = 'none';
    const reg = await request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) });
    await finishOperation(api.db, reg.body.data.operation_id, { status: 'completed', ...ended });
    const nodeId: string = reg.body.data.id;
    await api.db.updateTable('nodes').set({ status: 'ready' }).where('id', '=', nodeId).execute();
    // setRunId fails for this account's operations (and only for them: other files share the database).
    const trigger = `nf_test_no_run_id_${acct.accountId.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
    await sql`CREATE OR REPLACE FUNCTION nf_test_fail_run_id() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected: cannot record run id'; END $$`.execute(
      api.db,
    );
    await sql
      .raw(
        `CREATE TRIGGER ${trigger} BEFORE UPDATE OF run_id ON operations FOR EACH ROW ` +
          `WHEN (NEW.account_id = '${acct.accountId}' AND OLD.run_id IS NULL AND NEW.run_id IS NOT NULL) EXECUTE FUNCTION nf_test_fail_run_id()`,
      )
      .execute(api.db);
    try {
      const first = await request('POST', `/v1/nodes/${nodeId}/reboot`, {
        key: acct.keys.test,
        body: { method: 'hard' },
      });
      expect(first.status).toBe(202);
      const opId = first.body.data.operation_id;
      const [op] = await rebootOps(nodeId);
      expect(op).toMatchObject({ id: opId, status: 'pending', run_id: null });
      expect(await workflowStatus(op!.workflow_id)).toBe('RUNNING');
      expect(await locksOf(opId)).toEqual([nodeId]);
      const retry = await request('POST', `/v1/nodes/${nodeId}/reboot`, {
        key: acct.keys.test,
        body: { method: 'hard' },
      });
      expect(retry.body.error).toMatchObject({ code: 'resource_busy', operation_id: opId });
      expect((await rebootOps(nodeId)).map((o) => o.id)).toEqual([opId]);
    } finally {
      await sql.raw(`DROP TRIGGER IF EXISTS ${trigger} ON operations`).execute(api.db);
    }
  });

  it('when Temporal cannot say, the 503 says the outcome is unknown and names the operation; nothing is released until Temporal certainly has no workflow', async () => {
    const nodeId = await readyNode();
    fault = 'unreachable';
    const key = `idem-${Math.random().toString(36).slice(2)}`;
    const first = await request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'hard' },
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(503);
    expect(first.body.error.code).toBe('service_unavailable');
    expect(first.body.error.message).toMatch(/outcome is unknown/);
    expect(first.body.error.message).not.toMatch(/nothing was changed/);
    const opId = first.body.error.operation_id;
    expect(opId).toMatch(/^op_/);
    expect(await locksOf(opId)).toEqual([nodeId]);
    expect((await rebootOps(nodeId)).map((o) => [o.id, o.status])).toEqual([[opId, 'pending']]);

    // The same request again: its operation, not a second one (with the key: the bound operation).
    const replay = await request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'hard' },
      headers: { 'idempotency-key': key },
    });
    expect([replay.status, replay.headers.get('idempotent-replayed'), replay.body.data?.operation_id]).toEqual([
      202,
      'true',
      opId,
    ]);
    const busy = await request('POST', `/v1/nodes/${nodeId}/reboot`, { body: { method: 'hard' } });
    expect(busy.body.error).toMatchObject({ code: 'resource_busy', operation_id: opId });

    // Temporal is back and has no such workflow; past the start grace the operation is ended (never
    // left pending) and the resource is free again.
    fault = 'none';
    await api.db
      .updateTable('operations')
      .set({ created_at: new Date(Date.now() - 120_000) })
      .where('id', '=', opId)
      .execute();
    const after = await request('POST', `/v1/nodes/${nodeId}/reboot`, { body: { method: 'hard' } });
    expect(after.status).toBe(202);
    const old = (await rebootOps(nodeId)).find((o) => o.id === opId)!;
    expect(old.status).toBe('failed');
    expect(old.error).toMatchObject({ code: 'not_started' });
    expect(await locksOf(opId)).toEqual([]);
  });
});

describe('a start that certainly failed changed nothing (#4)', () => {
  it('cluster create → 503; the same request (same Idempotency-Key) then succeeds: no CREATING row, no claimed node, no name taken', async () => {
    const nodeIds = [await readyNode(), await readyNode(), await readyNode()];
    const body = { name: `undo-${Math.random().toString(36).slice(2, 8)}`, node_ids: nodeIds, ceph_version: 'reef' };
    const key = `idem-${Math.random().toString(36).slice(2)}`;
    fault = 'throw_before_send';
    const failed = await request('POST', '/v1/clusters', { body, headers: { 'idempotency-key': key } });
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(/nothing was changed/);
    expect(await api.db.selectFrom('clusters').select('id').where('name', '=', body.name).execute()).toEqual([]);
    const members = await api.db.selectFrom('nodes').select('cluster_id').where('id', 'in', nodeIds).execute();
    expect(members.map((m) => m.cluster_id)).toEqual([null, null, null]);
    const op = await api.db
      .selectFrom('operations')
      .selectAll()
      .where('id', '=', failed.body.error.operation_id)
      .executeTakeFirstOrThrow();
    expect(op).toMatchObject({ status: 'failed', error: { code: 'not_started' } });
    expect(await locksOf(op.id)).toEqual([]);

    fault = 'none';
    const again = await request('POST', '/v1/clusters', { body, headers: { 'idempotency-key': key } });
    expect([again.status, again.body.error?.code, again.headers.get('idempotent-replayed')]).toEqual([
      202,
      undefined,
      null,
    ]);
    expect(again.body.data).toMatchObject({ name: body.name, status: 'CREATING' });
  });

  it('node register → 503 leaves no node (nor sandbox machine); the same registration then succeeds', async () => {
    const body = nodeBody(privateKey);
    fault = 'throw_before_send';
    const failed = await request('POST', '/v1/nodes', { body });
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(/nothing was changed/);
    expect(
      await api.db
        .selectFrom('nodes')
        .select('id')
        .where('ip_address', '=', body.ip_address as string)
        .execute(),
    ).toEqual([]);
    expect(
      await api.db
        .selectFrom('sandbox_machines')
        .select('id')
        .where('ipmi_address', '=', body.ipmi_address as string)
        .execute(),
    ).toEqual([]);
    fault = 'none';
    const again = await request('POST', '/v1/nodes', { body });
    expect([again.status, again.body.data?.status]).toEqual([202, 'pending']);
  });

  it('cluster delete → 503 leaves the cluster in its previous status, unlocked', async () => {
    const id = newId('cluster');
    await api.db
      .insertInto('clusters')
      .values({
        id,
        account_id: api.account.accountId,
        environment: 'sandbox',
        name: `keep-${id}`,
        status: 'HEALTH_WARN',
        ceph_version: 'reef',
      })
      .execute();
    fault = 'throw_before_send';
    const failed = await request('DELETE', `/v1/clusters/${id}`, { headers: { 'x-confirm-delete': 'true' } });
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(/nothing was changed/);
    const c = await api.db.selectFrom('clusters').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    expect(c.status).toBe('HEALTH_WARN');
    expect(
      await api.db.selectFrom('operation_locks').select('resource_id').where('resource_id', '=', id).execute(),
    ).toEqual([]);
  });
});

describe('a start that lands after the operation was ended as never started (#4)', () => {
  it("the workflow's first activity refuses to run it (non-retryable), and the row stays as the API ended it", async () => {
    fault = 'throw_before_send';
    const failed = await request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    expect(failed.status).toBe(503);
    const opId = failed.body.error.operation_id;
    fault = 'none';
    const activities = createOperationActivities({
      db: api.db,
      config: api.config,
      logger: createLogger('silent'),
    } as ActivityDeps);
    const err = await activities.markOperationStarted({ operationId: opId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect([(err as ApplicationFailure).type, (err as ApplicationFailure).nonRetryable]).toEqual([
      'invalid_state',
      true,
    ]);
    await finishOperation(api.db, opId, {
      ...ended,
      status: 'failed',
      error: { code: 'invalid_state', message: 'late start' },
    });
    const row = await api.db.selectFrom('operations').selectAll().where('id', '=', opId).executeTakeFirstOrThrow();
    expect([row.status, row.error?.code]).toEqual(['failed', 'not_started']);
  });
});

describe('a lost answer never means work twice (#5)', () => {
  it('the API dies after starting the workflow: a retry with the same key gets that operation, also after the 5-minute takeover', async () => {
    const nodeId = await readyNode();
    const key = `idem-${Math.random().toString(36).slice(2)}`;
    hang = new Promise<void>((r) => (releaseHang = r));
    fault = 'start_then_hang';
    const lost = new AbortController();
    const firstP = request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'graceful' },
      headers: { 'idempotency-key': key },
      signal: lost.signal,
    }).catch((err: unknown) => err);
    // The operation is committed and its workflow exists; the answer never comes.
    const [op] = await until(
      () => rebootOps(nodeId),
      (rows) => rows.length === 1,
    );
    const opId = op!.id;
    await until(
      () => workflowStatus(op!.workflow_id),
      (s) => s === 'RUNNING',
    );
    const claim = await api.db
      .selectFrom('idempotency_keys')
      .select('state')
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    expect(claim.state).toBe('in_progress');
    lost.abort();
    await firstP;

    fault = 'none';
    const retry = await request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'graceful' },
      headers: { 'idempotency-key': key },
    });
    expect([
      retry.status,
      retry.headers.get('idempotent-replayed'),
      retry.body.data?.operation_id,
      retry.body.data?.node_id,
    ]).toEqual([202, 'true', opId, nodeId]);

    // Past the stale-claim takeover (5 min): still that operation, never the request again.
    await api.db
      .updateTable('idempotency_keys')
      .set({ created_at: new Date(Date.now() - 10 * 60_000) })
      .where('key', '=', key)
      .execute();
    const late = await request('POST', `/v1/nodes/${nodeId}/reboot`, {
      body: { method: 'graceful' },
      headers: { 'idempotency-key': key },
    });
    expect([late.status, late.body.data?.operation_id]).toEqual([202, opId]);
    expect((await rebootOps(nodeId)).map((o) => o.id)).toEqual([opId]);
    releaseHang();
  });

  it('a pause whose answer timed out says its outcome is unknown and points to the operation', async () => {
    const op = {
      id: 'op_01JTESTPAUSE000000000000',
      type: 'cluster.upgrade',
      status: 'in_progress',
      workflow_id: 'wf',
    } as Operation;
    const temporal = {
      workflow: { getHandle: () => ({ executeUpdate: async () => undefined }) },
      connection: {
        withDeadline: async () => Promise.reject(Object.assign(new Error('deadline exceeded'), { code: 4 })),
      },
    } as unknown as Client;
    const err = await pauseOrResumeOperation(
      { db: api.db, temporal, config: api.config, logger: createLogger('silent') },
      op,
      'pause',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('service_unavailable');
    expect((err as ApiError).message).toMatch(/outcome is unknown/);
    expect((err as ApiError).message).toContain(`GET /v1/operations/${op.id}`);
    expect((err as ApiError).details).toMatchObject({ operation_id: op.id });
  });
});

describe('an ended operation row is never overwritten (#6)', () => {
  function describing(answer: () => Promise<unknown>): Client {
    return {
      workflow: { getHandle: () => ({ describe: answer }) },
      connection: { withDeadline: (_d: number, fn: () => Promise<unknown>) => fn() },
    } as unknown as Client;
  }

  it('settleIfClosed whose describe (TERMINATED) comes back after the workflow wrote "completed" leaves the row as the workflow wrote it', async () => {
    fault = 'none';
    const reg = await request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const opId = reg.body.data.operation_id;
    let asked!: () => void;
    const describeAsked = new Promise<void>((r) => (asked = r));
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const temporal = describing(async () => {
      asked();
      await answered;
      return { status: { name: 'TERMINATED' }, closeTime: new Date(), runId: 'r' };
    });
    const settling = settleIfClosed({ db: api.db, temporal, config: api.config, logger: createLogger('silent') }, opId);
    await describeAsked;
    const done = {
      ...ended,
      status: 'completed' as const,
      steps: [{ name: 'probe', status: 'completed' as const, started_at: null, finished_at: null }],
      logs: [{ timestamp: new Date().toISOString(), message: 'registered' }],
      result: { node_id: reg.body.data.id },
    };
    await finishOperation(api.db, opId, done);
    answer();
    await settling;
    const row = await api.db.selectFrom('operations').selectAll().where('id', '=', opId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      status: 'completed',
      error: null,
      result: done.result,
      steps: done.steps,
      logs: done.logs,
    });
  });

  it("the workflow's own end replaces a settlement made on Temporal's word", async () => {
    fault = 'none';
    const reg = await request('POST', '/v1/nodes', { body: nodeBody(privateKey) });
    const opId = reg.body.data.operation_id;
    const temporal = describing(async () => ({ status: { name: 'TERMINATED' }, closeTime: new Date(), runId: 'r' }));
    expect(
      await settleIfClosed({ db: api.db, temporal, config: api.config, logger: createLogger('silent') }, opId),
    ).toBe(true);
    let row = await api.db.selectFrom('operations').selectAll().where('id', '=', opId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'failed', error: { code: 'workflow_closed' } });
    await finishOperation(api.db, opId, { ...ended, status: 'completed', result: { node_id: reg.body.data.id } });
    row = await api.db.selectFrom('operations').selectAll().where('id', '=', opId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'completed', error: null, result: { node_id: reg.body.data.id } });
  });
});
