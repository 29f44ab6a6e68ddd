import { sql } from 'kysely';
import type { Executor } from '../database';

/**
 * The CRUSH weight NodeFoundry last left each OSD at (osds.expected_crush_weight, issue 11), read by
 * the cluster monitor's NF_OSD_WEIGHT_DRIFT check. Written: when an OSD row is first recorded from
 * Ceph (create, import; upsertObservedOsd adopts the observed weight while none is known), when a
 * reweight or drain completes (keepTargetWeights: its target), when a recorded original is restored
 * (compensation, settler: activities/reweight.activities.ts; the monitor's repair).
 */

/** The OSDs of a cluster whose expected weight is known. */
export async function expectedWeights(
  db: Executor,
  clusterId: string,
): Promise<{ osd_id: number; host: string; expected_crush_weight: number }[]> {
  const rows = await db
    .selectFrom('osds')
    .select(['osd_id', 'host', 'expected_crush_weight'])
    .where('cluster_id', '=', clusterId)
    .where('expected_crush_weight', 'is not', null)
    .orderBy('osd_id')
    .execute();
  return rows.map((r) => ({ osd_id: r.osd_id, host: r.host, expected_crush_weight: r.expected_crush_weight! }));
}

/** Records the weight NodeFoundry left an OSD at (no row: nothing to record; the next refresh adopts). */
export async function setExpectedWeight(db: Executor, clusterId: string, osdId: number, weight: number): Promise<void> {
  await db
    .updateTable('osds')
    .set({ expected_crush_weight: weight })
    .where('cluster_id', '=', clusterId)
    .where('osd_id', '=', osdId)
    .execute();
}

/**
 * A reweight or drain that completed left its OSD at its target: the open `crush_weight` entries of
 * the operation (its result, about to be closed `kept`) say which OSD and which target (entries
 * recorded before the target was written fall back to the weight its last refresh recorded).
 */
export async function keepTargetWeights(db: Executor, operationId: string): Promise<void> {
  await sql`
    update osds set expected_crush_weight = coalesce((c.details->>'target')::double precision, osds.crush_weight)
    from operation_changes c
    where c.operation_id = ${operationId}
      and c.kind = 'crush_weight'
      and c.state = 'open'
      and osds.cluster_id = c.details->>'cluster_id'
      and osds.osd_id = (c.details->>'osd_id')::integer
  `.execute(db);
}

/** An open `crush_weight` entry of an operation on this cluster, running or not: the weight it changed and the original. */
export interface OpenWeightEntry {
  kind: string;
  operationId: string;
  operationStatus: string;
  workflowId: string;
  subject: string;
  osdId: number;
  original: number;
}

/** The change ledger's open CRUSH weight entries of operations on this cluster (with a usable original). */
export async function openWeightEntries(db: Executor, clusterId: string): Promise<OpenWeightEntry[]> {
  const rows = await db
    .selectFrom('operation_changes as c')
    .innerJoin('operations as o', 'o.id', 'c.operation_id')
    .select(['c.kind', 'c.operation_id', 'o.status', 'o.workflow_id', 'c.subject', 'c.details'])
    .where('o.cluster_id', '=', clusterId)
    .where('c.kind', '=', 'crush_weight')
    .where('c.state', '=', 'open')
    .orderBy('c.id')
    .execute();
  const out: OpenWeightEntry[] = [];
  for (const r of rows) {
    const osdId = Number(r.details.osd_id);
    const original = r.details.original;
    if (!Number.isInteger(osdId) || typeof original !== 'number' || !Number.isFinite(original)) continue;
    out.push({
      kind: r.kind,
      operationId: r.operation_id,
      operationStatus: r.status,
      workflowId: r.workflow_id,
      subject: r.subject,
      osdId,
      original,
    });
  }
  return out;
}
