import type { ActivityDeps } from './deps';
import { expandFacts, settleExpansionNodes } from '../db/repositories/expand.repository';
import { recordCreatedOsd } from '../db/repositories/osds.repository';
import type { CephHostSpec } from '../drivers/types';
import type { ExpandFacts } from '../lib/plans/expand-cluster.planner';
import { cephFor } from './targets';
import { FAILURE, guarded, permanent } from './failures';

/**
 * Adding hosts to a running cluster (issue 13 item 3). The hosts, OSDs and weights go through the
 * same driver calls a creation and a reweight use; what is new is reading the facts and creating an
 * OSD that holds no data until its weight is raised.
 */
export function createExpandActivities(deps: ActivityDeps) {
  return {
    /** Everything an expansion is planned from: the cluster, its members and OSDs, the requested nodes. */
    async describeClusterExpand(input: { clusterId: string; nodeIds: string[] }): Promise<ExpandFacts> {
      const facts = await expandFacts(deps.db, input.clusterId, input.nodeIds);
      if (!facts) throw permanent(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
      return facts;
    },

    /** The host joins the cluster and, with a rack or zone failure domain, goes under its bucket. */
    async addExpandHost(input: { clusterId: string; host: CephHostSpec; failureDomain: string }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ceph.addHost(input.host);
        if (!(await ceph.hosts()).includes(input.host.hostname)) {
          throw new Error(`host ${input.host.hostname} was added but the orchestrator does not list it`);
        }
        if (input.failureDomain !== 'host') await ceph.setCrushLocation(input.host);
      });
    },

    /**
     * One OSD that holds no data yet: created, recorded with its device (so a later removal knows
     * what to wipe), and its CRUSH weight read back as 0 — set to 0 at once where the deployer gave
     * it its full weight. Idempotent: an OSD already on the device is reused and brought to 0 only
     * if this operation has not raised it yet (the workflow calls this only in create_osds).
     */
    async createZeroWeightOsd(input: {
      clusterId: string;
      nodeId: string;
      host: string;
      device: string;
    }): Promise<{ osd_id: number; device_weight: number }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        // Live: the OSD boots at weight 0 (osd_crush_initial_weight), so no PG maps to it even for a
        // moment; the option is removed again whatever happens (a retry sets it again first).
        let osd_id: number;
        if (ceph.setOsdInitialWeight) {
          await ceph.setOsdInitialWeight(0);
          try {
            ({ osd_id } = await ceph.createOsd(input.host, input.device));
          } finally {
            await ceph.setOsdInitialWeight(null);
          }
        } else {
          ({ osd_id } = await ceph.createOsd(input.host, input.device));
        }
        await recordCreatedOsd(deps.db, {
          clusterId: input.clusterId,
          osdId: osd_id,
          nodeId: input.nodeId,
          host: input.host,
          device: input.device,
        });
        const before = await ceph.pgPlacement([osd_id]);
        const p = before.osds.find((o) => o.osd_id === osd_id);
        if (!p) throw new Error(`osd.${osd_id} was created but Ceph does not list it`);
        if (p.crush_weight > 0) await ceph.crushReweight(osd_id, 0);
        return { osd_id, device_weight: p.device_weight > 0 ? p.device_weight : p.crush_weight };
      });
    },

    /**
     * The end of an expansion for its nodes only (other members keep their status): `online`
     * members (completed, or hosts left in the cluster at weight 0), or released back to `ready`
     * when nothing of Ceph reached them.
     */
    async settleExpandNodes(input: {
      clusterId: string;
      nodeIds: string[];
      release: boolean;
      reason: string | null;
    }): Promise<void> {
      await settleExpansionNodes(deps.db, input);
    },
  };
}
