import type { Db } from '../db/database';
import type { RecordedCheck } from '../db/repositories/cluster-health.repository';
import { closeChanges } from '../db/repositories/operation-changes.repository';
import { openWeightEntries, setExpectedWeight, type OpenWeightEntry } from '../db/repositories/osd-weights.repository';
import type { CephOsd } from '../drivers/types';
import type { Logger } from '../lib/logger';

/**
 * NF_OSD_WEIGHT_DRIFT (docs/api.md §Cluster health, docs/operators.md §Drift repair): an OSD's CRUSH
 * weight differs from what the last NodeFoundry operation left it at (osds.expected_crush_weight),
 * while no operation of the cluster runs. Repaired only with the change ledger's evidence: an open
 * `crush_weight` entry of an operation that certainly no longer runs.
 */
export const NF_OSD_WEIGHT_DRIFT = 'NF_OSD_WEIGHT_DRIFT';

/** Ceph keeps CRUSH weights in 16.16 fixed point and NodeFoundry writes five decimals: closer is equal. */
export const WEIGHT_TOLERANCE_TIB = 1e-4;

/** How many OSDs a summary names before it says "and N more". */
const NAMED = 10;

export interface WeightDrift {
  osdId: number;
  host: string;
  /** CRUSH weight Ceph shows now, TiB. */
  observed: number;
  /** CRUSH weight NodeFoundry last left it at, TiB. */
  expected: number;
}

const tib = (w: number) => `${Math.round(w * 1e5) / 1e5} TiB`;

/**
 * The OSDs whose CRUSH weight differs from the expected one. An OSD without an expected weight
 * (unknown) or no longer in Ceph is not compared.
 */
export function weightDrifts(
  osds: Pick<CephOsd, 'id' | 'host' | 'crush_weight'>[],
  expected: { osd_id: number; expected_crush_weight: number }[],
): WeightDrift[] {
  const want = new Map(expected.map((e) => [e.osd_id, e.expected_crush_weight]));
  const out: WeightDrift[] = [];
  for (const o of [...osds].sort((a, b) => a.id - b.id)) {
    const e = want.get(o.id);
    if (e === undefined) continue;
    if (Math.abs(o.crush_weight - e) > WEIGHT_TOLERANCE_TIB) {
      out.push({ osdId: o.id, host: o.host, observed: o.crush_weight, expected: e });
    }
  }
  return out;
}

/** The check for a round, or null: drift counts only while no operation of the cluster runs (one may be moving weights). */
export function weightDriftCheck(drifts: WeightDrift[], runningOperations: number): RecordedCheck | null {
  if (runningOperations > 0 || drifts.length === 0) return null;
  const named = drifts
    .slice(0, NAMED)
    .map((d) => `osd.${d.osdId} (${d.host}) is at ${tib(d.observed)}, NodeFoundry left it at ${tib(d.expected)}`);
  const more = drifts.length > NAMED ? `, and ${drifts.length - NAMED} more` : '';
  return {
    code: NF_OSD_WEIGHT_DRIFT,
    source: 'nodefoundry',
    severity: 'HEALTH_WARN',
    summary: `CRUSH weight changed outside NodeFoundry with no operation running: ${named.join('; ')}${more}`,
  };
}

const REPAIR_NOTE = 'restored by the cluster monitor: the operation that changed it no longer runs';

/**
 * The repair: each open `crush_weight` entry of an operation that certainly no longer runs
 * (`mayStillOwn` false: its row failed/cancelled, or Temporal says its workflow closed — a drain
 * terminated from the Web UI) has its recorded original put back (`ceph osd crush reweight`), the
 * expected weight recorded, the entry closed `undone`. A completed operation's open entry is its
 * result (closed `kept` by its end), never undone. An OSD Ceph no longer shows is left to the
 * settler. Answers one line per repair.
 */
export async function repairWeightDrift(x: {
  db: Db;
  logger: Logger;
  clusterId: string;
  osds: Pick<CephOsd, 'id' | 'crush_weight'>[];
  crushReweight: (osdId: number, weight: number) => Promise<void>;
  mayStillOwn: (e: OpenWeightEntry) => Promise<boolean>;
}): Promise<string[]> {
  const entries = (await openWeightEntries(x.db, x.clusterId)).filter((e) => e.operationStatus !== 'completed');
  const repaired: string[] = [];
  const bySubject = new Map<string, OpenWeightEntry[]>();
  for (const e of entries) bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e]);
  for (const [subject, mine] of bySubject) {
    let owned = false;
    for (const e of mine) if (await x.mayStillOwn(e)) owned = true;
    if (owned) continue;
    // The oldest entry holds the weight before any of these operations touched the OSD.
    const first = mine[0]!;
    const osd = x.osds.find((o) => o.id === first.osdId);
    if (!osd) continue;
    const ops = [...new Set(mine.map((e) => e.operationId))];
    const changed = Math.abs(osd.crush_weight - first.original) > WEIGHT_TOLERANCE_TIB;
    if (changed) await x.crushReweight(first.osdId, first.original);
    await setExpectedWeight(x.db, x.clusterId, first.osdId, first.original);
    for (const operationId of ops) {
      await closeChanges(x.db, { operationId, kind: 'crush_weight', subject }, 'undone', REPAIR_NOTE);
    }
    if (!changed) continue;
    const line =
      `CRUSH weight of osd.${first.osdId} restored to ${tib(first.original)} (was ${tib(osd.crush_weight)}): ` +
      `left by operation ${ops.join(', ')}, which no longer runs`;
    repaired.push(line);
    x.logger.warn('cluster monitor repaired drift', {
      cluster_id: x.clusterId,
      osd_id: first.osdId,
      operation_ids: ops,
      repair: line,
    });
  }
  return repaired;
}
