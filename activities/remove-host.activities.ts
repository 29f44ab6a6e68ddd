import { ApplicationFailure, Context } from '@temporalio/activity';
import { getClusterById } from '../db/repositories/clusters.repository';
import { getNodeById, releaseRemovedMember } from '../db/repositories/nodes.repository';
import type { RemoveHostFacts } from '../lib/plans/remove-host.planner';
import { closeChanges } from '../db/repositories/operation-changes.repository';
import { currentOperation, osdSubject } from './change-ledger';
import type { ActivityDeps } from './deps';
import { FAILURE, guarded, pollUntil } from './failures';
import { cephFor } from './targets';

const typed = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

/**
 * Removing a host from a cluster (cluster.shrink, workflows/remove-host.workflow.ts): the
 * facts it is planned from, mons and mgrs placed elsewhere, the host's OSDs purged and its devices
 * zapped, the host out of CRUSH, the node released. The drain itself reuses the reweight activities.
 */
export function createRemoveHostActivities(deps: ActivityDeps) {
  async function memberOf(clusterId: string, nodeId: string) {
    const node = await getNodeById(deps.db, nodeId);
    if (!node || node.cluster_id !== clusterId) {
      throw typed(FAILURE.invalidState, `Node ${nodeId} is not a member of cluster ${clusterId}.`);
    }
    return node;
  }

  return {
    /** Reads what a removal is planned from: the OSDs with their bytes, hosts, pools, mons, mgrs. */
    async readRemoveHostFacts(input: { clusterId: string; nodeId: string }): Promise<RemoveHostFacts> {
      return guarded(async () => {
        const cluster = await getClusterById(deps.db, input.clusterId);
        if (!cluster) throw typed(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
        const node = await memberOf(input.clusterId, input.nodeId);
        const ceph = await cephFor(deps, input.clusterId);
        const osds = await ceph.osds();
        const hosts = await ceph.hosts();
        const daemons = await ceph.daemons();
        const pools = await ceph.pools();
        const widths: { name: string; width: number }[] = [];
        for (const p of pools) {
          if (p.type === 'erasure' && p.erasure_profile) {
            const prof = await ceph.erasureProfile(p.erasure_profile);
            widths.push({ name: p.name, width: prof ? prof.k + prof.m : p.size });
          } else widths.push({ name: p.name, width: p.size });
        }
        // A host is up for a moved mon/mgr when one of its OSDs is up or a daemon of it runs.
        const upHosts = [
          ...new Set([...osds.filter((o) => o.up).map((o) => o.host), ...daemons.mons, ...daemons.mgrs]),
        ].filter((h) => hosts.includes(h) && h !== node.hostname);
        return {
          clusterId: input.clusterId,
          clusterName: cluster.name,
          nodeId: input.nodeId,
          host: node.hostname,
          adminNodeId: cluster.admin_node_id,
          failureDomain: cluster.failure_domain,
          osds: osds.map((o) => ({
            id: o.id,
            host: o.host,
            up: o.up,
            crush_weight: o.crush_weight,
            used_bytes: o.used_bytes,
            size_bytes: o.size_bytes,
          })),
          hosts,
          pools: widths,
          replicationFactor: cluster.replication_factor,
          mons: daemons.mons,
          mgrs: daemons.mgrs,
          upHosts: upHosts.sort(),
        };
      });
    },

    /**
     * Places the cluster's mons (or mgrs) on exactly `hosts` and waits until they run there (the
     * count stays the same; the lab has not yet checked the order in which each deployer adds and removes).
     */
    async placeDaemonsAndWait(input: { clusterId: string; type: 'mon' | 'mgr'; hosts: string[] }): Promise<string[]> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      // The package deployer adds mons one at a time, waiting for each: heartbeat meanwhile.
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat({ placing: input.type, hosts: input.hosts }), 5_000);
      try {
        await guarded(() => ceph.placeDaemons(input.type, input.hosts));
      } finally {
        clearInterval(beat);
      }
      const want = [...input.hosts].sort().join(',');
      let seen: string[] = [];
      return pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.cephUnavailable,
        what: `${input.type}s on ${input.hosts.join(', ')}`,
        describe: () => ({ running: seen }),
        probe: async () => {
          const d = await ceph.daemons();
          seen = input.type === 'mon' ? d.mons : d.mgrs;
          return [...seen].sort().join(',') === want ? seen : undefined;
        },
      });
    },

    /**
     * Ceph leaves the host: its daemons stopped (`cephadm rm-cluster` / the units), each OSD purged
     * from the map, then the devices that held them zapped. Idempotent; the host must be reachable.
     */
    async purgeHostOsds(input: {
      clusterId: string;
      host: string;
      osdIds: number[];
    }): Promise<{ purged: number[]; zapped: string[] }> {
      return guarded(async () => {
        const cluster = await getClusterById(deps.db, input.clusterId);
        const fsid = cluster?.fsid ?? null;
        const ceph = await cephFor(deps, input.clusterId);
        // Read where the OSDs live before they are purged: Ceph on the host says, not our record.
        const devices = await ceph.osdDevicesOn(input.host, fsid);
        await ceph.removeHostDaemons(input.host, fsid);
        for (const id of input.osdIds) {
          await ceph.purgeOsd(id);
          // The drain's recorded weight has no OSD to go back to: closed, so nothing restores it.
          const scope = await currentOperation(deps);
          if (scope) {
            await closeChanges(
              deps.db,
              { operationId: scope.operationId, kind: 'crush_weight', subject: osdSubject(input.clusterId, id) },
              'kept',
              `osd.${id} purged: its weight has nothing to go back to`,
            );
          }
        }
        await ceph.zapDevices(input.host, fsid, devices);
        return { purged: input.osdIds, zapped: devices };
      });
    },

    /** `ceph osd crush remove <host>` (and the orchestrator's host list). Idempotent. */
    async removeHostFromCrush(input: { clusterId: string; host: string }): Promise<void> {
      return guarded(async () => (await cephFor(deps, input.clusterId)).removeCrushHost(input.host));
    },

    /** The node leaves the cluster and is `ready` for another one. Idempotent. */
    async releaseRemovedNode(input: { clusterId: string; nodeId: string }): Promise<void> {
      await releaseRemovedMember(deps.db, input.clusterId, input.nodeId);
    },
  };
}
