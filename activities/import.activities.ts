import type { ActivityDeps } from './deps';
import * as clusters from '../db/repositories/clusters.repository';
import * as nodes from '../db/repositories/nodes.repository';
import { upsertImportedPool } from '../db/repositories/pools.repository';
import { parseCephVersion } from '../lib/ceph-releases';
import { newId } from '../lib/ids';
import type { ImportDiscovery, ImportLayout, ImportMember } from '../lib/plans/import-cluster.planner';
import { cephFor } from './targets';
import { FAILURE, guarded, permanent } from './failures';

/** Pools a Ceph manager module owns (`.mgr` from Quincy on, `device_health_metrics` before): not the user's to manage. */
function isInternalPool(p: { name: string; applications: string[] }): boolean {
  return p.applications.some((a) => a === 'mgr' || a === 'mgr_devicehealth');
}

export interface ImportRequest {
  name: string;
  adminNodeId: string;
  adminHostname: string;
  members: ImportMember[];
}

/**
 * Importing an existing cluster (POST /v1/clusters/import). Reads only, on the Ceph side: the
 * cluster is recorded as it is. Every activity is idempotent.
 */
export function createImportActivities(deps: ActivityDeps) {
  return {
    /** The import as the API accepted it: the cluster row (IMPORTING) and the nodes it claimed. */
    async describeImport(input: { clusterId: string }): Promise<ImportRequest> {
      const c = await clusters.getClusterById(deps.db, input.clusterId);
      if (!c) throw permanent(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
      const members = await clusters.clusterNodes(deps.db, input.clusterId);
      const admin = members.find((n) => n.id === c.admin_node_id);
      if (!admin)
        throw permanent(
          FAILURE.invalidState,
          `The admin node of cluster ${input.clusterId} is not one of its members.`,
        );
      return {
        name: c.name,
        adminNodeId: admin.id,
        adminHostname: admin.hostname,
        members: members.map((n) => ({ nodeId: n.id, hostname: n.hostname })),
      };
    },

    /**
     * Ceph's view through the admin node: fsid (`adopt`), health, daemon versions and hosts, OSDs,
     * pools, CRUSH rules; and whether another cluster of the account already manages that fsid.
     */
    async discoverCluster(input: {
      clusterId: string;
    }): Promise<{ discovery: ImportDiscovery; fsidTakenBy: string | null }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const { fsid } = await ceph.adopt();
        const status = await ceph.status();
        const daemons = await ceph.daemonVersions();
        const osds = await ceph.osds();
        const pools = await ceph.pools();
        const rules = await ceph.crushRules();
        const versionCounts: Record<string, number> = {};
        for (const d of daemons) versionCounts[d.version] = (versionCounts[d.version] ?? 0) + 1;
        const hosts = new Set([...daemons.map((d) => d.host), ...osds.map((o) => o.host)]);
        const c = await clusters.getClusterById(deps.db, input.clusterId);
        const other = c
          ? await clusters.findClusterByFsid(
              deps.db,
              { accountId: c.account_id, environment: c.environment },
              fsid,
              input.clusterId,
            )
          : undefined;
        return {
          fsidTakenBy: other ?? null,
          discovery: {
            fsid,
            health: status.health,
            versionCounts,
            cephHosts: [...hosts].sort(),
            osdCount: osds.length,
            pools: pools
              .filter((p) => !isInternalPool(p))
              .map((p) => ({ name: p.name, type: p.type, size: p.size, crush_rule_id: p.crush_rule_id })),
            crushRules: rules.map((r) => ({ id: r.id, name: r.name, failure_domain: r.failure_domain })),
            monsInQuorum: status.mons_in_quorum,
            monsTotal: status.mons_total,
          },
        };
      });
    },

    /**
     * Records the adopted cluster: fsid, version, failure domain and replication on the row, its
     * user pools (as Ceph has them now; upserted by name), members active. OSDs and health follow
     * with refreshClusterState.
     */
    async recordImportedCluster(input: {
      clusterId: string;
      fsid: string;
      layout: ImportLayout;
    }): Promise<{ pools: string[] }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const pools = (await ceph.pools()).filter((p) => !isInternalPool(p));
        const profiles = new Map<string, { k: number; m: number } | null>();
        for (const p of pools) {
          if (p.erasure_profile && !profiles.has(p.erasure_profile))
            profiles.set(p.erasure_profile, await ceph.erasureProfile(p.erasure_profile));
        }
        const { layout } = input;
        await deps.db.transaction().execute(async (trx) => {
          // One vocabulary (issue 12 #4): the release name in ceph_version, the point version beside it.
          const parsed = parseCephVersion(layout.cephVersion);
          await clusters.recordAdoptedCluster(trx, input.clusterId, {
            fsid: input.fsid,
            cephVersion: parsed?.release ?? layout.cephVersion,
            cephPointVersion: parsed?.version ?? null,
            failureDomain: layout.failureDomain,
            replicationFactor: layout.replicationFactor,
          });
          for (const p of pools) {
            const profile = p.erasure_profile ? profiles.get(p.erasure_profile) : null;
            await upsertImportedPool(trx, {
              id: newId('pool'),
              cluster_id: input.clusterId,
              name: p.name,
              type: p.type,
              size: p.size,
              min_size: p.min_size,
              erasure_profile: p.erasure_profile,
              k: profile?.k ?? null,
              m: profile?.m ?? null,
              pg_num: p.pg_num,
              pg_autoscale: p.pg_autoscale_mode !== 'off',
              application: p.applications[0] ?? null,
              status: 'active',
            });
          }
          await nodes.setClusterMembersStatus(trx, input.clusterId, 'online');
        });
        return { pools: pools.map((p) => p.name) };
      });
    },

    /**
     * A failed or cancelled import, in one transaction: nothing was changed on Ceph, so nothing is
     * left of it here either — members released (ready, no cluster), pools and OSD rows and the
     * cluster row removed. Idempotent.
     */
    async undoClusterImport(input: { clusterId: string }): Promise<{ released: number }> {
      return deps.db.transaction().execute(async (trx) => {
        const released = await nodes.releaseClusterMembers(trx, input.clusterId, 'ready');
        await clusters.deleteClusterRecords(trx, input.clusterId);
        return { released };
      });
    },
  };
}
