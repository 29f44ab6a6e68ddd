import { sql, type Kysely, type Transaction } from 'kysely';
import { isClusterStatus, type Database, type Operation, type OperationLog } from '../database';
import { forgetKeyOfOperation } from './idempotency.repository';
import { releaseLocks, settleOperation, TERMINAL_STATUSES } from './operations.repository';

/** The error an operation whose workflow never started ends with (API start failure and settler alike). */
export const NOT_STARTED_ERROR = {
  code: 'not_started',
  message: 'The operation could not be started (its workflow never started); nothing was changed.',
};

/**
 * Undoes what an operation's create step (startOperation's onCreate) wrote, for an operation whose
 * workflow certainly never started: run in the transaction that fails the operation, so "nothing
 * was changed" is true — the retry of the same request is accepted, not refused 409 `name_taken` or
 * `node_in_cluster`, and no `pending` node or `DELETING` cluster is left behind. Reads only what the
 * operation row holds (ids and params), so it also serves an operation found orphaned later (the
 * API's settleIfClosed, the settler), long after the request that created it. Returns what it undid,
 * in words.
 */
export async function undoCreateStep(trx: Transaction<Database>, op: Operation): Promise<string[]> {
  switch (op.type) {
    case 'cluster.create':
    case 'cluster.import': {
      if (!op.cluster_id) return [];
      // Claimed members are released with the row (nodes.cluster_id is ON DELETE SET NULL); the
      // explicit update says so and does not depend on it.
      await trx.updateTable('nodes').set({ cluster_id: null }).where('cluster_id', '=', op.cluster_id).execute();
      const r = await trx
        .deleteFrom('clusters')
        .where('id', '=', op.cluster_id)
        .where('status', 'in', ['CREATING', 'IMPORTING'])
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0 ? ['cluster record removed, nodes released'] : [];
    }
    case 'cluster.delete': {
      if (!op.cluster_id) return [];
      // A row without its previous status (written before it was kept) goes to ERROR, never stays DELETING.
      const previous = isClusterStatus(op.params.previous_status) ? op.params.previous_status : 'ERROR';
      const r = await trx
        .updateTable('clusters')
        .set({
          status: previous,
          status_reason: 'deletion was never started; nothing was removed',
          updated_at: sql`now()`,
        })
        .where('id', '=', op.cluster_id)
        .where('status', '=', 'DELETING')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0 ? [`cluster back to ${previous}`] : [];
    }
    case 'node.register': {
      if (!op.node_id) return [];
      const node = await trx
        .selectFrom('nodes')
        .select(['ipmi_address', 'status'])
        .where('id', '=', op.node_id)
        .executeTakeFirst();
      if (!node || node.status !== 'pending') return [];
      if (op.environment === 'sandbox') {
        // The simulated machine was racked in the same transaction as the node.
        await trx
          .deleteFrom('sandbox_machines')
          .where('account_id', '=', op.account_id)
          .where('ipmi_address', '=', node.ipmi_address)
          .execute();
      }
      await trx.deleteFrom('nodes').where('id', '=', op.node_id).execute();
      return ['node record removed'];
    }
    case 'pool.create': {
      const poolId = op.params.pool_id;
      if (typeof poolId !== 'string') return [];
      const r = await trx
        .deleteFrom('pools')
        .where('id', '=', poolId)
        .where('status', '=', 'creating')
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0 ? ['pool row removed (nothing was made in Ceph)'] : [];
    }
    case 'pool.delete': {
      const poolId = op.params.pool_id;
      if (typeof poolId !== 'string') return [];
      // A pool is deleted from active or error only; anything else recorded reads as active.
      const previous = op.params.previous_status === 'error' ? 'error' : 'active';
      const r = await trx
        .updateTable('pools')
        .set({ status: previous, status_reason: null, updated_at: sql`now()` })
        .where('id', '=', poolId)
        .where('status', '=', 'deleting')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0 ? [`pool back to ${previous} (nothing was removed)`] : [];
    }
    default:
      // node.reboot, cluster.upgrade, osd.reweight write nothing but the operation and its locks.
      return [];
  }
}

/**
 * Ends an operation whose workflow certainly never started, in one transaction under its row lock:
 * the row `failed` with code `not_started` (only if it has not ended), what its create step wrote
 * undone, its Idempotency-Key forgotten (the same request may be sent again), its locks released
 * (also when it had ended). With `log`, the row keeps its steps and logs and gains that line naming
 * what was undone; without, both are emptied. Answers whether this call ended it, and what it undid.
 */
export async function endUnstartedOperation(
  db: Kysely<Database>,
  operationId: string,
  opts: { log?: string } = {},
): Promise<{ ended: boolean; undone: string[] }> {
  return db.transaction().execute(async (trx) => {
    const op = await trx
      .selectFrom('operations')
      .selectAll()
      .where('id', '=', operationId)
      .forUpdate()
      .executeTakeFirst();
    if (!op || TERMINAL_STATUSES.includes(op.status)) {
      await releaseLocks(trx, operationId);
      return { ended: false, undone: [] };
    }
    const undone = await undoCreateStep(trx, op);
    await forgetKeyOfOperation(trx, operationId);
    const now = new Date().toISOString();
    const line: OperationLog[] = opts.log
      ? [{ timestamp: now, message: `${opts.log}${undone.length ? `; ${undone.join('; ')}` : ''}` }]
      : [];
    const ended = await settleOperation(trx, operationId, {
      status: 'failed',
      progress: 0,
      current_step: null,
      steps: opts.log ? op.steps : [],
      logs: opts.log ? [...op.logs, ...line] : [],
      error: NOT_STARTED_ERROR,
      result: null,
      started_at: null,
      completed_at: now,
    });
    return { ended, undone };
  });
}
