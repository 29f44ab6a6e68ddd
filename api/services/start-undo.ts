import type { Transaction } from 'kysely';
import type { Database, Operation } from '../../db/database';

type PoolStatus = Database['pools']['status'];

/**
 * Undoes what an operation's create step (startOperation's onCreate) wrote, for an operation whose
 * workflow certainly never started: run in the transaction that fails the operation, so "nothing
 * was changed" is true — the retry of the same request is accepted, not refused 409 `name_taken` or
 * `node_in_cluster`, and no `pending` node or `DELETING` cluster is left behind. Reads only what the
 * operation row holds (ids and params), so it also serves an operation found orphaned later
 * (settleIfClosed), long after the request that created it.
 */
export async function undoCreateStep(trx: Transaction<Database>, op: Operation): Promise<void> {
  switch (op.type) {
    case 'cluster.create':
    case 'cluster.import':
      if (!op.cluster_id) return;
      // Claimed members are released with the row (nodes.cluster_id is ON DELETE SET NULL); the
      // explicit update says so and does not depend on it.
      await trx.updateTable('nodes').set({ cluster_id: null }).where('cluster_id', '=', op.cluster_id).execute();
      await trx.deleteFrom('clusters').where('id', '=', op.cluster_id).where('status', 'in', ['CREATING', 'IMPORTING']).execute();
      return;
    case 'cluster.delete': {
      const previous = op.params.previous_status;
      if (!op.cluster_id || typeof previous !== 'string') return;
      await trx.updateTable('clusters').set({ status: previous }).where('id', '=', op.cluster_id).where('status', '=', 'DELETING').execute();
      return;
    }
    case 'node.register': {
      if (!op.node_id) return;
      const node = await trx.selectFrom('nodes').select(['ipmi_address', 'status']).where('id', '=', op.node_id).executeTakeFirst();
      if (!node || node.status !== 'pending') return;
      if (op.environment === 'sandbox') {
        // The simulated machine was racked in the same transaction as the node.
        await trx.deleteFrom('sandbox_machines').where('account_id', '=', op.account_id).where('ipmi_address', '=', node.ipmi_address).execute();
      }
      await trx.deleteFrom('nodes').where('id', '=', op.node_id).execute();
      return;
    }
    case 'pool.create': {
      const poolId = op.params.pool_id;
      if (typeof poolId !== 'string') return;
      await trx.deleteFrom('pools').where('id', '=', poolId).where('status', '=', 'creating').execute();
      return;
    }
    case 'pool.delete': {
      const poolId = op.params.pool_id;
      const previous = (op.params.previous_status ?? 'active') as PoolStatus;
      if (typeof poolId !== 'string') return;
      await trx.updateTable('pools').set({ status: previous }).where('id', '=', poolId).where('status', '=', 'deleting').execute();
      return;
    }
    default:
      // node.reboot, cluster.upgrade, osd.reweight write nothing but the operation and its locks.
      return;
  }
}
