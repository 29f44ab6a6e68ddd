import { sql, type Kysely } from 'kysely';
import type { Database, Executor, OperationChange, OperationError, OperationLog, OperationStep } from '../database';
import { json } from '../database';

/**
 * What an operation can change that must not outlive it. Each kind has one undo, applied by the
 * settler (activities/settle.activities.ts) when the operation's workflow closed without its own
 * compensation (terminated, timed out, or gone):
 *  - noout_host           `<cluster>/<host>`   unset the host's noout            (details: was_set_before)
 *  - osds_stopped         `<cluster>/<host>`   start the OSDs                   (details: osd_ids)
 *  - power_off_sent       `<node>`             power the machine on              (details: command)
 *  - power_on_sent        `<node>`             power it off again (cluster creation only, before bootstrap)
 *  - crush_weight         `<cluster>/osd.<n>`  restore the recorded CRUSH weight (details: original)
 *  - autoscale_frozen     `<cluster>`          unfreeze PG autoscaling
 *  - ceph_installed       `<cluster>`          none: Ceph is on the disks; the cluster stays ERROR for a delete
 *  - ceph_removal_started `<cluster>`          none: a deletion destroyed data; the cluster stays ERROR for a new delete
 *  - osd_destroyed        `<cluster>/osd.<n>`  none: a disk replacement destroyed the OSD (id kept); closed when it is
 *                                              recreated, else left for an operator to run the replacement again (details: host)
 */
export type ChangeKind =
  | 'noout_host'
  | 'osds_stopped'
  | 'power_off_sent'
  | 'power_on_sent'
  | 'crush_weight'
  | 'autoscale_frozen'
  | 'ceph_installed'
  | 'ceph_removal_started'
  | 'osd_destroyed';

/** open: still in effect; undone: reversed (by the workflow or the settler); kept: the operation's result; left: for an operator. */
export type ChangeState = 'open' | 'undone' | 'kept' | 'left';

export interface NewChange {
  operationId: string;
  workflowId: string;
  kind: ChangeKind;
  subject: string;
  details?: Record<string, unknown>;
}

/**
 * Records a change before it is made. While an entry for the same (operation, kind, subject) is
 * open the first one stands (a retried activity must not overwrite the original value it recorded).
 * Answers whether this call inserted it.
 */
export async function recordChange(db: Executor, c: NewChange): Promise<boolean> {
  const r = await db
    .insertInto('operation_changes')
    .values({
      operation_id: c.operationId,
      workflow_id: c.workflowId,
      kind: c.kind,
      subject: c.subject,
      details: json(c.details ?? {}),
    })
    .onConflict((oc) =>
      oc
        .expression(sql`operation_id, kind, subject`)
        .where('state', '=', 'open')
        .doNothing(),
    )
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export async function openChange(
  db: Executor,
  operationId: string,
  kind: ChangeKind,
  subject: string,
): Promise<OperationChange | undefined> {
  return db
    .selectFrom('operation_changes')
    .selectAll()
    .where('operation_id', '=', operationId)
    .where('kind', '=', kind)
    .where('subject', '=', subject)
    .where('state', '=', 'open')
    .executeTakeFirst();
}

/** Open entries of an operation, oldest first (the settler undoes them newest first). */
export async function openChanges(db: Executor, operationId: string): Promise<OperationChange[]> {
  return db
    .selectFrom('operation_changes')
    .selectAll()
    .where('operation_id', '=', operationId)
    .where('state', '=', 'open')
    .orderBy('id')
    .execute();
}

export async function changesOf(db: Executor, operationId: string): Promise<OperationChange[]> {
  return db.selectFrom('operation_changes').selectAll().where('operation_id', '=', operationId).orderBy('id').execute();
}

export async function hasOpenChanges(db: Executor, operationId: string): Promise<boolean> {
  const r = await db
    .selectFrom('operation_changes')
    .select('id')
    .where('operation_id', '=', operationId)
    .where('state', '=', 'open')
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** Closes the open entries of an operation matching kind (and subject when given). */
export async function closeChanges(
  db: Executor,
  where: { operationId: string; kind: ChangeKind; subject?: string; ids?: string[] },
  state: Exclude<ChangeState, 'open'>,
  note: string | null = null,
): Promise<number> {
  let q = db
    .updateTable('operation_changes')
    .set({ state, note, closed_at: sql`now()` })
    .where('operation_id', '=', where.operationId)
    .where('kind', '=', where.kind)
    .where('state', '=', 'open');
  if (where.subject !== undefined) q = q.where('subject', '=', where.subject);
  if (where.ids) {
    if (where.ids.length === 0) return 0;
    q = q.where('id', 'in', where.ids);
  }
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export async function closeChange(
  db: Executor,
  id: string,
  state: Exclude<ChangeState, 'open'>,
  note: string | null = null,
): Promise<void> {
  await db
    .updateTable('operation_changes')
    .set({ state, note, closed_at: sql`now()` })
    .where('id', '=', id)
    .where('state', '=', 'open')
    .execute();
}

/** At an operation's recorded end: what is still open is its result (completed) or was reported by its compensation (failed, cancelled). */
export async function closeAllOpen(
  db: Executor,
  operationId: string,
  state: 'kept' | 'left',
  note: string,
): Promise<void> {
  await db
    .updateTable('operation_changes')
    .set({ state, note, closed_at: sql`now()` })
    .where('operation_id', '=', operationId)
    .where('state', '=', 'open')
    .execute();
}

export interface SettledState {
  status: 'failed' | 'cancelled';
  progress: number;
  current_step: string | null;
  steps: OperationStep[];
  logs: OperationLog[];
  error: OperationError;
  started_at: string | null;
  completed_at: string;
}

/**
 * The settler's end of an operation: written only while the row has not ended (a workflow that
 * recorded its own end always wins), with the locks released in the same transaction. Answers
 * whether it wrote.
 */
export async function finishIfOpen(db: Kysely<Database>, operationId: string, s: SettledState): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('operations')
      .set({
        status: s.status,
        progress: s.progress,
        current_step: s.current_step,
        steps: json(s.steps),
        logs: json(s.logs),
        error: json(s.error),
        result: null,
        started_at: s.started_at,
        completed_at: s.completed_at,
        updated_at: sql`now()`,
      })
      .where('id', '=', operationId)
      .where('status', 'in', ['pending', 'in_progress', 'paused'])
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await trx.deleteFrom('operation_locks').where('operation_id', '=', operationId).execute();
    return true;
  });
}
