import { sql } from 'kysely';
import { json, type Executor, type NodeStatus } from '../database';
import type { MaintenanceRecord } from '../../lib/plans/maintenance.planner';
import { closeAllOpen } from './operation-changes.repository';

/**
 * Maintenance mode's record (issue 13 #1, table node_maintenance): written with the node's status
 * `maintenance` in one transaction when entering completes, read and removed (with the node's new
 * status, in one transaction) when exiting completes.
 */

export async function getMaintenance(db: Executor, nodeId: string): Promise<MaintenanceRecord | null> {
  const r = await db.selectFrom('node_maintenance').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
  if (!r) return null;
  return {
    clusterId: r.cluster_id,
    hostname: r.hostname,
    osdIds: r.osd_ids,
    nooutSet: r.noout_set,
    nooutFound: r.noout_found,
    poweredOff: r.powered_off,
    operationId: r.operation_id,
    enteredAt: r.entered_at.toISOString(),
  };
}

/** Records maintenance and sets the node's status, in one transaction. Idempotent (a retried activity). */
export async function enterMaintenance(
  db: Executor,
  nodeId: string,
  rec: Omit<MaintenanceRecord, 'enteredAt'>,
  reason: string,
): Promise<void> {
  const write = async (trx: Executor) => {
    await trx
      .insertInto('node_maintenance')
      .values({
        node_id: nodeId,
        cluster_id: rec.clusterId,
        hostname: rec.hostname,
        osd_ids: json(rec.osdIds),
        noout_set: rec.nooutSet,
        noout_found: rec.nooutFound,
        powered_off: rec.poweredOff,
        operation_id: rec.operationId,
      })
      // A stale row (its node left maintenance another way, e.g. its cluster was deleted) is replaced.
      .onConflict((oc) =>
        oc.column('node_id').doUpdateSet((eb) => ({
          cluster_id: eb.ref('excluded.cluster_id'),
          hostname: eb.ref('excluded.hostname'),
          osd_ids: eb.ref('excluded.osd_ids'),
          noout_set: eb.ref('excluded.noout_set'),
          noout_found: eb.ref('excluded.noout_found'),
          powered_off: eb.ref('excluded.powered_off'),
          operation_id: eb.ref('excluded.operation_id'),
          entered_at: sql`now()`,
        })),
      )
      .execute();
    await trx
      .updateTable('nodes')
      .set({ status: 'maintenance', status_reason: reason, updated_at: sql`now()` })
      .where('id', '=', nodeId)
      .execute();
    // What entering changed (noout, stopped OSDs, power-off) now belongs to maintenance, not to a
    // running operation: a settler that finds the enter's workflow gone must not undo it.
    await closeAllOpen(trx, rec.operationId, 'kept', 'kept: handed to maintenance mode (node_maintenance)');
  };
  if (!db.isTransaction) await db.transaction().execute(write);
  else await write(db);
}

/** Ends maintenance: the record removed and the node's status set, in one transaction. */
export async function exitMaintenance(
  db: Executor,
  nodeId: string,
  status: NodeStatus,
  reason: string | null,
): Promise<void> {
  const write = async (trx: Executor) => {
    await trx.deleteFrom('node_maintenance').where('node_id', '=', nodeId).execute();
    await trx
      .updateTable('nodes')
      .set({ status, status_reason: reason, updated_at: sql`now()` })
      .where('id', '=', nodeId)
      .where('status', '=', 'maintenance')
      .execute();
  };
  if (!db.isTransaction) await db.transaction().execute(write);
  else await write(db);
}

/** The hostnames of a cluster's members in maintenance: their noout belongs to maintenance (the monitor leaves it). */
export async function maintenanceHosts(db: Executor, clusterId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('node_maintenance')
    .select('hostname')
    .where('cluster_id', '=', clusterId)
    .orderBy('hostname')
    .execute();
  return rows.map((r) => r.hostname);
}
