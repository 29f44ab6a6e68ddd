import { sql, type Kysely } from 'kysely';
import type {
  Database,
  Executor,
  NewOperation,
  Operation,
  OperationError,
  OperationLog,
  OperationStatus,
  OperationStep,
} from '../database';
import { json } from '../database';

export const TERMINAL_STATUSES: OperationStatus[] = ['completed', 'failed', 'cancelled'];
/** Not ended: the operation may still run (or is about to), and holds its locks. */
export const OPEN_STATUSES = ['pending', 'in_progress', 'paused'] as const satisfies readonly OperationStatus[];

export interface Scope {
  accountId: string;
  environment: 'live' | 'sandbox';
}

export async function insertOperation(db: Executor, op: NewOperation): Promise<void> {
  await db.insertInto('operations').values(op).execute();
}

/**
 * Takes the locks of `resourceIds` for `operationId`. Returns the ids that were already held
 * (by another operation); the caller rolls back when that list is not empty.
 * ON CONFLICT DO NOTHING keeps the transaction usable (a unique violation would abort it).
 */
export async function acquireLocks(db: Executor, operationId: string, resourceIds: string[]): Promise<string[]> {
  if (resourceIds.length === 0) return [];
  // Always in one (sorted) order, whatever order the client listed them in: two requests over
  // overlapping sets then wait for each other instead of deadlocking.
  const sorted = [...resourceIds].sort();
  const inserted = await db
    .insertInto('operation_locks')
    .values(sorted.map((resource_id) => ({ resource_id, operation_id: operationId })))
    .onConflict((oc) => oc.column('resource_id').doNothing())
    .returning('resource_id')
    .execute();
  const got = new Set(inserted.map((r) => r.resource_id));
  return resourceIds.filter((id) => !got.has(id));
}

export async function lockHolders(
  db: Executor,
  resourceIds: string[],
): Promise<{ resource_id: string; operation_id: string }[]> {
  if (resourceIds.length === 0) return [];
  return db
    .selectFrom('operation_locks')
    .select(['resource_id', 'operation_id'])
    .where('resource_id', 'in', resourceIds)
    .execute();
}

/** `text` as a LIKE pattern matching only itself (PostgreSQL's default escape is the backslash). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Locks whose id starts with `<prefix>/` (a cluster's slots), oldest first. */
export async function locksUnder(
  db: Executor,
  prefix: string,
): Promise<{ resource_id: string; operation_id: string }[]> {
  const pattern = `${escapeLike(prefix)}/%`;
  return db
    .selectFrom('operation_locks')
    .select(['resource_id', 'operation_id'])
    .where('resource_id', 'like', pattern)
    .orderBy('created_at')
    .orderBy('resource_id')
    .execute();
}

export async function releaseLocks(db: Executor, operationId: string): Promise<void> {
  await db.deleteFrom('operation_locks').where('operation_id', '=', operationId).execute();
}

/** The operation currently holding a lock on the resource, if any. */
export async function runningOperationFor(db: Executor, resourceId: string): Promise<string | null> {
  const row = await db
    .selectFrom('operation_locks')
    .select('operation_id')
    .where('resource_id', '=', resourceId)
    .executeTakeFirst();
  return row?.operation_id ?? null;
}

/** The operation; with `forUpdate`, its row locked for the caller's transaction. */
export async function getOperationById(db: Executor, id: string, forUpdate = false): Promise<Operation | undefined> {
  let q = db.selectFrom('operations').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function getScopedOperation(db: Executor, scope: Scope, id: string): Promise<Operation | undefined> {
  return db
    .selectFrom('operations')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment)
    .executeTakeFirst();
}

export interface OperationFilter {
  clusterId?: string;
  nodeId?: string;
  status?: OperationStatus;
  type?: string;
  requestId?: string;
}

export async function listOperations(
  db: Executor,
  scope: Scope,
  filter: OperationFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: Operation[]; total: number }> {
  let q = db
    .selectFrom('operations')
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  if (filter.clusterId) q = q.where('cluster_id', '=', filter.clusterId);
  if (filter.nodeId) q = q.where('node_id', '=', filter.nodeId);
  if (filter.status) q = q.where('status', '=', filter.status);
  if (filter.type) q = q.where('type', '=', filter.type);
  if (filter.requestId) q = q.where('request_id', '=', filter.requestId);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** Records the run id; answers the row as written (one statement: no re-read after it). */
export async function setRunId(db: Executor, id: string, runId: string): Promise<Operation | undefined> {
  return db
    .updateTable('operations')
    .set({ run_id: runId, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Answers whether the row moved to in_progress (false: already running, or ended). */
export async function markOperationStarted(db: Executor, id: string): Promise<boolean> {
  const res = await db
    .updateTable('operations')
    .set({ status: 'in_progress', started_at: sql`coalesce(started_at, now())`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', ['pending', 'paused'])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export interface FinalState {
  status: OperationStatus;
  progress: number;
  current_step: string | null;
  steps: OperationStep[];
  logs: OperationLog[];
  error: OperationError | null;
  result: Record<string, unknown> | null;
  started_at: string | null;
  completed_at: string | null;
}

/**
 * Error codes the API writes when it settles an operation without its workflow's word
 * (`workflow_closed`: Temporal said the workflow closed; the workflow may still have written, or be
 * writing, its own end). The workflow's own final state replaces such a settlement.
 */
export const SETTLED_BY_API_CODES: readonly string[] = ['workflow_closed'];

function finalColumns(state: FinalState) {
  return {
    status: state.status,
    progress: state.progress,
    current_step: state.current_step,
    steps: json(state.steps),
    logs: json(state.logs),
    error: state.error ? json(state.error) : null,
    result: state.result ? json(state.result) : null,
    started_at: state.started_at,
    completed_at: state.completed_at,
    updated_at: sql<Date>`now()`,
  };
}

/**
 * Writes the workflow's final state and releases its locks, atomically. Idempotent. The workflow's
 * word always wins over the API's settlement (SETTLED_BY_API_CODES), but never over another end
 * already written (its own on a retried activity, or `not_started` for a workflow the API
 * established was never started).
 */
export async function finishOperation(db: Kysely<Database>, id: string, state: FinalState): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('operations')
      .set(finalColumns(state))
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('status', 'not in', TERMINAL_STATUSES),
          eb(sql<string>`error->>'code'`, 'in', [...SETTLED_BY_API_CODES]),
        ]),
      )
      .execute();
    await releaseLocks(trx, id);
  });
}

/**
 * The API's settlement of an operation whose workflow cannot write its end (closed, or never
 * started): changes the row only while it is not terminal, in one conditional UPDATE, so an end the
 * workflow wrote meanwhile is never overwritten. Releases the locks either way (an ended operation
 * holds none). Answers whether this call ended the operation.
 */
export async function settleOperation(db: Executor, id: string, state: FinalState): Promise<boolean> {
  const res = await db
    .updateTable('operations')
    .set(finalColumns(state))
    .where('id', '=', id)
    .where('status', 'not in', TERMINAL_STATUSES)
    .executeTakeFirst();
  await releaseLocks(db, id);
  return Number(res.numUpdatedRows) > 0;
}

/** Records that a cancel was delivered; answers false when one was already recorded. */
export async function markCancelRequested(db: Executor, id: string): Promise<boolean> {
  const res = await db
    .updateTable('operations')
    .set({ cancel_requested_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('cancel_requested_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The id of the operation whose workflow is `workflowId` (an operation row's own workflow id). */
export async function operationIdOfWorkflow(db: Executor, workflowId: string): Promise<string | undefined> {
  const row = await db.selectFrom('operations').select('id').where('workflow_id', '=', workflowId).executeTakeFirst();
  return row?.id;
}

/**
 * The account's operation whose workflow_id is `workflowId`, or a prefix of it followed by "/" (an
 * upgrade's host children are named `<upgrade workflow id>/host/<host>`); the longest match wins.
 */
export async function operationIdOfWorkflowOrParent(
  db: Executor,
  accountId: string,
  workflowId: string,
): Promise<string | null> {
  const op = await db
    .selectFrom('operations')
    .select('id')
    .where('account_id', '=', accountId)
    .where((eb) =>
      eb.or([
        eb('workflow_id', '=', workflowId),
        eb(sql<boolean>`starts_with(${workflowId}, workflow_id || '/')`, '=', true),
      ]),
    )
    .orderBy(sql`length(workflow_id)`, 'desc')
    .limit(1)
    .executeTakeFirst();
  return op?.id ?? null;
}

/** The operation's parameters (throws kysely's NoResultError when there is no such operation). */
export async function getOperationParamsOrThrow(db: Executor, id: string): Promise<Record<string, unknown>> {
  const op = await db.selectFrom('operations').select('params').where('id', '=', id).executeTakeFirstOrThrow();
  return op.params;
}

/** The operation's parameters, if it exists. */
export async function getOperationParams(db: Executor, id: string): Promise<Record<string, unknown> | undefined> {
  const op = await db.selectFrom('operations').select('params').where('id', '=', id).executeTakeFirst();
  return op?.params;
}

/** A page of the not-ended operations (of one account, or all) with ids after `after`, in id order. */
export async function listOpenOperations(
  db: Executor,
  filter: { accountId?: string | null; after: string; limit: number },
): Promise<Operation[]> {
  let q = db
    .selectFrom('operations')
    .selectAll()
    .where('status', 'in', [...OPEN_STATUSES])
    .where('id', '>', filter.after);
  if (filter.accountId) q = q.where('account_id', '=', filter.accountId);
  return q.orderBy('id').limit(filter.limit).execute();
}

/** Drains (reweights to 0) of the cluster not ended, but `except`, in id order. */
export async function openDrainsOfCluster(
  db: Executor,
  clusterId: string,
  except: string | null,
): Promise<{ id: string; osd_id: number | null }[]> {
  let q = db
    .selectFrom('operations')
    .select(['id', 'osd_id'])
    .where('cluster_id', '=', clusterId)
    .where('type', '=', 'osd.reweight')
    .where('status', 'in', [...OPEN_STATUSES])
    .where(sql<boolean>`(params->>'weight')::float8 = 0`);
  if (except) q = q.where('id', '<>', except);
  return q.orderBy('id').execute();
}

/** Moves a running operation between in_progress and paused (an ended one is left alone). */
export async function setOperationPaused(db: Executor, id: string, paused: boolean): Promise<void> {
  await db
    .updateTable('operations')
    .set({ status: paused ? 'paused' : 'in_progress', updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', [...OPEN_STATUSES])
    .execute();
}

/** Another operation's lock on exactly `resourceId`. */
export async function otherLockOn(
  db: Executor,
  operationId: string,
  resourceId: string,
): Promise<{ resource_id: string; operation_id: string } | undefined> {
  return db
    .selectFrom('operation_locks')
    .select(['resource_id', 'operation_id'])
    .where('operation_id', '<>', operationId)
    .where('resource_id', '=', resourceId)
    .executeTakeFirst();
}

/** Another operation's lock under `<prefix>/`, the oldest. */
export async function otherLockUnder(
  db: Executor,
  operationId: string,
  prefix: string,
): Promise<{ resource_id: string; operation_id: string } | undefined> {
  return db
    .selectFrom('operation_locks')
    .select(['resource_id', 'operation_id'])
    .where('operation_id', '<>', operationId)
    .where('resource_id', 'like', `${escapeLike(prefix)}/%`)
    .orderBy('created_at')
    .limit(1)
    .executeTakeFirst();
}

/** The first (by id) of these nodes or clusters that belongs to another account or environment than `scope`. */
export async function firstOutsideScope(
  db: Executor,
  table: 'nodes' | 'clusters',
  ids: string[],
  scope: Scope,
): Promise<{ id: string } | undefined> {
  return db
    .selectFrom(table)
    .select('id')
    .where('id', 'in', ids)
    .where((eb) => eb.or([eb('account_id', '<>', scope.accountId), eb('environment', '<>', scope.environment)]))
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
}

/** What nf_start_operation (migration 2026-12-05-0602) is given: see the migration for each field. */
export interface OneStatementStart {
  op: {
    id: string;
    account_id: string;
    environment: 'live' | 'sandbox';
    type: string;
    cluster_id: string | null;
    node_id: string | null;
    osd_id: number | null;
    request_id: string;
    workflow_id: string;
    params: Record<string, unknown>;
  };
  scope_node_ids: string[];
  scope_cluster_ids: string[];
  lock_cluster_ids: string[];
  sorted_lock_ids: string[];
  lock_ids: string[];
  guard_node_ids: string[];
  guard_versions: string[];
  refused: boolean;
  name_cluster_id: string | null;
  name_node_ids: string[];
  claim: { account_id: string; key: string; claim_id: string } | null;
}

export type OneStatementOutcome =
  | { ok: true; cluster: { id: string; name: string } | null; hosts: { id: string; hostname: string }[] }
  | { ok: false; reason: 'node_not_found' | 'cluster_not_found'; id: string }
  | { ok: false; reason: 'busy'; resource_id: string; operation_id: string }
  | { ok: false; reason: 'busy_unnamed' | 'stale' | 'refused' | 'idempotency_taken' };

/**
 * Scope check, operation row, cluster row locks, resource locks, nesting check, the precheck's row
 * versions, names and the Idempotency-Key binding in one statement (committed when it returns
 * `ok`; nothing written otherwise). One round trip instead of a transaction of seven or more.
 */
export async function startInOneStatement(db: Executor, input: OneStatementStart): Promise<OneStatementOutcome> {
  const { rows } = await sql<{
    r: OneStatementOutcome;
  }>`select nf_start_operation(${JSON.stringify(input)}::jsonb) as r`.execute(db);
  return rows[0]!.r;
}
