import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, NewOperation, Operation, OperationError, OperationLog, OperationStatus, OperationStep } from '../database';
import { json } from '../database';

type Executor = Kysely<Database> | Transaction<Database>;

export const TERMINAL_STATUSES: OperationStatus[] = ['completed', 'failed', 'cancelled'];

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

export async function lockHolders(db: Executor, resourceIds: string[]): Promise<{ resource_id: string; operation_id: string }[]> {
  if (resourceIds.length === 0) return [];
  return db.selectFrom('operation_locks').select(['resource_id', 'operation_id']).where('resource_id', 'in', resourceIds).execute();
}

/** `text` as a LIKE pattern matching only itself (PostgreSQL's default escape is the backslash). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Locks whose id starts with `<prefix>/` (a cluster's slots), oldest first. */
export async function locksUnder(db: Executor, prefix: string): Promise<{ resource_id: string; operation_id: string }[]> {
  const pattern = `${escapeLike(prefix)}/%`;
  return db.selectFrom('operation_locks').select(['resource_id', 'operation_id']).where('resource_id', 'like', pattern).orderBy('created_at').orderBy('resource_id').execute();
}

export async function releaseLocks(db: Executor, operationId: string): Promise<void> {
  await db.deleteFrom('operation_locks').where('operation_id', '=', operationId).execute();
}

/** The operation currently holding a lock on the resource, if any. */
export async function runningOperationFor(db: Executor, resourceId: string): Promise<string | null> {
  const row = await db.selectFrom('operation_locks').select('operation_id').where('resource_id', '=', resourceId).executeTakeFirst();
  return row?.operation_id ?? null;
}

export async function getOperationById(db: Executor, id: string): Promise<Operation | undefined> {
  return db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst();
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
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function setRunId(db: Executor, id: string, runId: string): Promise<void> {
  await db.updateTable('operations').set({ run_id: runId, updated_at: sql`now()` }).where('id', '=', id).execute();
}

export async function markOperationStarted(db: Executor, id: string): Promise<void> {
  await db
    .updateTable('operations')
    .set({ status: 'in_progress', started_at: sql`coalesce(started_at, now())`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', ['pending', 'paused'])
    .execute();
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

/** Writes the workflow's final state and releases its locks, atomically. Idempotent. */
export async function finishOperation(db: Kysely<Database>, id: string, state: FinalState): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('operations')
      .set({
        status: state.status,
        progress: state.progress,
        current_step: state.current_step,
        steps: json(state.steps),
        logs: json(state.logs),
        error: state.error ? json(state.error) : null,
        result: state.result ? json(state.result) : null,
        started_at: state.started_at,
        completed_at: state.completed_at,
        updated_at: sql`now()`,
      })
      .where('id', '=', id)
      .execute();
    await releaseLocks(trx, id);
  });
}
