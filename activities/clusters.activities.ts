import { sql } from 'kysely';
import type { ActivityDeps } from './deps';
import { cephFor } from './targets';
import { guarded } from './failures';

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
        const members = await deps.db.selectFrom('nodes').select(['id', 'hostname']).where('cluster_id', '=', input.clusterId).execute();
        const nodeOf = new Map(members.map((n) => [n.hostname, n.id]));
        await deps.db.transaction().execute(async (trx) => {
          for (const o of osds) {
            await trx
              .insertInto('osds')
              .values({
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
              })
              .onConflict((oc) =>
                oc.columns(['cluster_id', 'osd_id']).doUpdateSet((eb) => ({
                  node_id: eb.ref('excluded.node_id'),
                  host: eb.ref('excluded.host'),
                  // The device follows Ceph when Ceph reports it; an OSD id seen on another host
                  // without a device loses the old one (it is not on that host), so a delete never
                  // takes the old host's device for the new host's.
                  device: sql`case when excluded.device <> '' then excluded.device when excluded.host <> osds.host then '' else osds.device end`,
                  device_class: eb.ref('excluded.device_class'),
                  status: eb.ref('excluded.status'),
                  in: eb.ref('excluded.in'),
                  crush_weight: eb.ref('excluded.crush_weight'),
                  reweight: eb.ref('excluded.reweight'),
                  // The device's size, from its full CRUSH weight: an OSD recorded at creation
                  // (createClusterOsd) has none yet, so the first refresh fills it in; later
                  // refreshes keep it (a drained OSD's CRUSH weight is 0, its device is not smaller).
                  capacity_gb: sql`case when osds.capacity_gb = 0 then excluded.capacity_gb else osds.capacity_gb end`,
                  pgs: eb.ref('excluded.pgs'),
                  updated_at: sql`now()`,
                })),
              )
              .execute();
          }
          const ids = osds.map((o) => o.id);
          let gone = trx.deleteFrom('osds').where('cluster_id', '=', input.clusterId);
          if (ids.length > 0) gone = gone.where('osd_id', 'not in', ids);
          await gone.execute();
          const rawTib = osds.reduce((sum, o) => sum + o.crush_weight, 0);
          await trx
            .updateTable('clusters')
            .set({
              status: status.health,
              osd_count: osds.length,
              raw_capacity_tib: Math.round(rawTib * 10) / 10,
              observed_at: sql`now()`,
              updated_at: sql`now()`,
            })
            .where('id', '=', input.clusterId)
            .execute();
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
