import { usedCapacityTib, usedGb } from '../db/repositories/cluster-health.repository';
import { recordObservation } from '../db/repositories/clusters.repository';
import { clusterMemberSummaries } from '../db/repositories/nodes.repository';
import { deleteOsdsExcept, upsertObservedOsd } from '../db/repositories/osds.repository';
import type { ActivityDeps } from './deps';
import { cephFor } from './targets';
import { guarded } from './failures';
import { parseCephVersion } from '../lib/ceph-releases';

export interface ClusterObservation {
  health: string;
  osds_total: number;
  osds_up: number;
  pgs_total: number;
  pgs_active_clean: number;
}

export function createClusterActivities(deps: ActivityDeps) {
  return {
    /**
     * Reads Ceph's status and OSDs and records them (cluster status, osds rows), so that API reads
     * never touch hardware. Called at the end of every cluster operation; idempotent.
     */
    async refreshClusterState(input: { clusterId: string }): Promise<ClusterObservation> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const [status, osds] = [await ceph.status(), await ceph.osds()];
        const pointVersion = mostCommonPointVersion((await ceph.versions()).overall);
        const members = await clusterMemberSummaries(deps.db, input.clusterId);
        const nodeOf = new Map(members.map((n) => [n.hostname, n.id]));
        await deps.db.transaction().execute(async (trx) => {
          for (const o of osds) {
            await upsertObservedOsd(trx, {
              cluster_id: input.clusterId,
              osd_id: o.id,
              node_id: nodeOf.get(o.host) ?? null,
              host: o.host,
              device: o.device ?? '',
              device_class: o.device_class ?? null,
              status: o.up ? 'up' : 'down',
              in: o.in,
              crush_weight: o.crush_weight,
              reweight: o.reweight,
              pgs: o.pgs,
              capacity_gb: Math.round((o.crush_weight * 2 ** 40) / 1e9),
              used_gb: usedGb(o.used_bytes),
            });
          }
          await deleteOsdsExcept(
            trx,
            input.clusterId,
            osds.map((o) => o.id),
          );
          const rawTib = osds.reduce((sum, o) => sum + o.crush_weight, 0);
          await recordObservation(trx, input.clusterId, {
            health: status.health,
            osdCount: osds.length,
            rawCapacityTib: Math.round(rawTib * 10) / 10,
            usedCapacityTib: usedCapacityTib(status.bytes_used),
            ...(pointVersion ? { pointVersion } : {}),
          });
        });
        return {
          health: status.health,
          osds_total: status.osds_total,
          osds_up: status.osds_up,
          pgs_total: status.pgs_total,
          pgs_active_clean: status.pgs_active_clean,
        };
      });
    },
  };
}

/** The point version ("18.2.4") most daemons run, from `ceph versions`' overall counts; undefined when none parses. */
export function mostCommonPointVersion(overall: Record<string, number>): string | undefined {
  let best: { version: string; count: number } | undefined;
  for (const [text, count] of Object.entries(overall)) {
    const version = parseCephVersion(text)?.version;
    if (version && (!best || count > best.count || (count === best.count && version > best.version)))
      best = { version, count };
  }
  return best?.version;
}
