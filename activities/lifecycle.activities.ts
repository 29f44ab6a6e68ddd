import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { isClusterStatus, type ClusterDeployment } from '../db/database';
import * as clusters from '../db/repositories/clusters.repository';
import * as nodes from '../db/repositories/nodes.repository';
import { getOperationParams, getOperationParamsOrThrow } from '../db/repositories/operations.repository';
import { osdDevices as recordedOsdDevices, recordCreatedOsd } from '../db/repositories/osds.repository';
import { poolNamesInOrder } from '../db/repositories/pools.repository';
import type { CephDevice, CephHostSpec, CrushFailureDomain } from '../drivers/types';
import type { CreateClusterFacts, CreateClusterParams } from '../lib/plans/create-cluster.planner';
import type { DeleteClusterFacts } from '../lib/plans/delete-cluster.planner';
import { cephFor } from './targets';
import { FAILURE, guarded, permanent, pollUntil } from './failures';
import { createLedger } from './change-ledger';

/**
 * Cluster creation and deletion (SPEC §3). Every activity is idempotent (bootstrap answers with
 * the existing fsid, a host or OSD already there is read back, rules are created once) and every
 * change is read back from Ceph: its exit codes are not proof (LAB.md).
 */
export function createLifecycleActivities(deps: ActivityDeps) {
  const ledger = createLedger(deps);
  return {
    /** The nodes a cluster would be made of, as the planner needs them (dry run and preflight). */
    async describeClusterCreate(input: {
      accountId: string;
      environment: 'live' | 'sandbox';
      clusterId: string | null;
      name: string;
      nodeIds: string[];
    }): Promise<CreateClusterFacts> {
      return clusters.createClusterFacts(
        deps.db,
        { accountId: input.accountId, environment: input.environment },
        input,
      );
    },

    /** The creation request as accepted by the API (cluster row + the operation's params). */
    async describeCreateRequest(input: {
      clusterId: string;
      operationId: string;
    }): Promise<
      CreateClusterParams & { accountId: string; environment: 'live' | 'sandbox'; deployment: ClusterDeployment }
    > {
      const c = await clusters.getClusterById(deps.db, input.clusterId);
      if (!c) throw permanent(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
      const params = await getOperationParamsOrThrow(deps.db, input.operationId);
      const nodeIds = Array.isArray(params.node_ids)
        ? params.node_ids.filter((x): x is string => typeof x === 'string')
        : [];
      return {
        accountId: c.account_id,
        environment: c.environment,
        name: c.name,
        nodeIds,
        cephVersion: c.ceph_version,
        failureDomain: c.failure_domain as CreateClusterParams['failureDomain'],
        replicationFactor: c.replication_factor,
        deployment: c.deployment,
      };
    },

    /** The cluster as deletion sees it; with the operation, its status before the API marked it DELETING. */
    async describeClusterDelete(input: { clusterId: string; operationId?: string }): Promise<DeleteClusterFacts> {
      const c = await clusters.getClusterById(deps.db, input.clusterId);
      if (!c) throw permanent(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
      let status = c.status;
      if (input.operationId) {
        const previous = (await getOperationParams(deps.db, input.operationId))?.previous_status;
        if (isClusterStatus(previous)) status = previous;
      }
      const members = await clusters.clusterNodes(deps.db, input.clusterId);
      const osds = await recordedOsdDevices(deps.db, input.clusterId);
      const pools = await poolNamesInOrder(deps.db, input.clusterId);
      const osdDevices: Record<string, string[]> = {};
      for (const n of members) osdDevices[n.hostname] = [];
      for (const o of osds) if (o.device) (osdDevices[o.host] ??= []).push(o.device);
      return {
        clusterId: c.id,
        name: c.name,
        status,
        fsid: c.fsid,
        deployment: c.deployment,
        nodes: members.map((n) => ({ nodeId: n.id, hostname: n.hostname, status: n.status, held: n.held })),
        osdDevices,
        pools,
      };
    },

    /**
     * `status` is a string: workflow code cannot import db types (eslint), so the status a workflow
     * carries (a cluster's status before its deletion, from describeClusterDelete) is checked here.
     */
    async setClusterStatus(input: { clusterId: string; status: string; reason?: string | null }): Promise<void> {
      if (!isClusterStatus(input.status))
        throw permanent(FAILURE.invalidState, `${input.status} is not a cluster status.`);
      await clusters.setClusterStatus(deps.db, input.clusterId, input.status, input.reason ?? null);
    },

    /** Members of the cluster (cluster_id set when the operation was accepted) become provisioning. */
    async markNodesProvisioning(input: { clusterId: string; nodeIds: string[] }): Promise<void> {
      await nodes.markNodesProvisioning(deps.db, input.clusterId, input.nodeIds);
    },

    /** The end of a successful creation: members online. Health was recorded by refreshClusterState. */
    async markNodesActive(input: { clusterId: string }): Promise<void> {
      await nodes.setClusterMembersStatus(deps.db, input.clusterId, 'online');
    },

    /**
     * A failed or cancelled creation, in one transaction: the cluster ERROR with the reason, and the
     * nodes either released (`release`: nothing was installed on them, so they are ready again) or
     * kept as members in `error` (Ceph is partly installed on them: only a cluster delete wipes them).
     */
    async failClusterCreate(input: { clusterId: string; reason: string; release: boolean }): Promise<void> {
      await deps.db.transaction().execute(async (trx) => {
        await clusters.setClusterStatus(trx, input.clusterId, 'ERROR', input.reason);
        if (input.release) {
          await nodes.releaseClusterMembers(trx, input.clusterId, 'ready');
        } else {
          await nodes.setClusterMembersStatus(trx, input.clusterId, 'error', `cluster creation ${input.reason}`);
        }
      });
    },

    /** The deployer's bootstrap on the admin node (packages: first mon and mgr; cephadm: `cephadm bootstrap`); records the fsid. */
    async bootstrapCluster(input: {
      clusterId: string;
      host: string;
      address: string;
      cephVersion: string;
      replication: number;
    }): Promise<{ fsid: string }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        // From here on Ceph may be on the disks: a settled creation keeps the nodes for a delete.
        await ledger.before('ceph_installed', input.clusterId, { cluster_id: input.clusterId });
        const { fsid } = await ceph.bootstrap({
          host: input.host,
          address: input.address,
          cephVersion: input.cephVersion,
          replication: input.replication,
        });
        await clusters.updateCluster(deps.db, input.clusterId, { fsid });
        return { fsid };
      });
    },

    /** The deployer adds the host (packages: packages, ceph.conf, keyrings; cephadm: `ceph orch host add`), then the host must be listed. */
    async addClusterHost(input: { clusterId: string; host: CephHostSpec }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ceph.addHost(input.host);
        if (!(await ceph.hosts()).includes(input.host.hostname)) {
          throw new Error(`ceph orch host add ${input.host.hostname} succeeded but the host is not listed`);
        }
      });
    },

    /** Places mons or mgrs and waits until every one of them runs (cephadm deploys asynchronously). */
    async placeClusterDaemons(input: { clusterId: string; type: 'mon' | 'mgr'; hosts: string[] }): Promise<void> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      // The package deployer adds mons one at a time and waits for each to join the quorum: keep
      // heartbeating meanwhile (the activity's heartbeat timeout is 30 s).
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat({ placing: input.type, hosts: input.hosts }), 5_000);
      try {
        await guarded(() => ceph.placeDaemons(input.type, input.hosts));
      } finally {
        clearInterval(beat);
      }
      let running: string[] = [];
      await pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.cephUnavailable,
        what: `${input.type}s on ${input.hosts.join(', ')}`,
        describe: () => ({ running }),
        probe: async () => {
          const d = await ceph.daemons();
          running = input.type === 'mon' ? d.mons : d.mgrs;
          return input.hosts.every((h) => running.includes(h)) ? true : undefined;
        },
      });
    },

    async hostDevices(input: { clusterId: string; host: string }): Promise<CephDevice[]> {
      return guarded(async () => (await cephFor(deps, input.clusterId)).devices(input.host));
    },

    /**
     * One OSD on one device, recorded at once (with its device) so that a deletion after a failed
     * creation knows which devices to wipe.
     */
    async createClusterOsd(input: {
      clusterId: string;
      nodeId: string;
      host: string;
      device: string;
    }): Promise<{ osd_id: number }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const { osd_id } = await ceph.createOsd(input.host, input.device);
        await recordCreatedOsd(deps.db, {
          clusterId: input.clusterId,
          osdId: osd_id,
          nodeId: input.nodeId,
          host: input.host,
          device: input.device,
        });
        return { osd_id };
      });
    },

    /** Hosts under their rack/zone buckets, then the replicated rule for the failure domain, read back; existing replicated pools moved onto it. */
    async createClusterCrushRule(input: {
      clusterId: string;
      failureDomain: CrushFailureDomain;
      ruleName: string;
      hosts: CephHostSpec[];
    }): Promise<{ rule_id: number }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        if (input.failureDomain !== 'host') for (const h of input.hosts) await ceph.setCrushLocation(h);
        await ceph.createCrushRule(input.ruleName, input.failureDomain);
        const rule = (await ceph.crushRules()).find((r) => r.name === input.ruleName);
        if (!rule) throw new Error(`CRUSH rule ${input.ruleName} was created but is not listed`);
        if (rule.failure_domain !== input.failureDomain) {
          throw permanent(
            FAILURE.invalidState,
            `CRUSH rule ${input.ruleName} already exists and chooses across "${rule.failure_domain}", not "${input.failureDomain}".`,
          );
        }
        // Pools that exist already (the mgr's `.mgr`, made by the bootstrap on the default host
        // rule) move to the cluster's rule: otherwise losing one rack or zone could make them inactive.
        for (const p of await ceph.pools()) {
          if (p.type === 'replicated' && p.crush_rule_id !== rule.id)
            await ceph.setPool(p.name, 'crush_rule', input.ruleName);
        }
        return { rule_id: rule.id };
      });
    },

    /**
     * Ready, not merely HEALTH_OK (LAB.md: HEALTH_OK was reported with 0 of 3 OSDs up and every PG
     * unknown): HEALTH_OK, OSDs up = in = expected, the mons in quorum, a mgr, every PG active+clean.
     */
    async waitClusterReady(input: {
      clusterId: string;
      expectedOsds: number;
      expectedMons: number;
    }): Promise<{ pgs: number; osds: number }> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      let last = '';
      const waiting = pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.pgsNotClean,
        what: 'the cluster to be ready',
        describe: () => last,
        probe: async () => {
          const s = await ceph.status();
          last = `${s.health}, ${s.osds_up}/${s.osds_in}/${s.osds_total} OSDs up/in/total of ${input.expectedOsds}, ${s.mons_in_quorum.length}/${input.expectedMons} mons in quorum, mgr ${s.mgr_available ? 'available' : 'unavailable'}, ${s.pgs_active_clean}/${s.pgs_total} PGs active+clean`;
          const ready =
            s.health === 'HEALTH_OK' &&
            s.osds_total === input.expectedOsds &&
            s.osds_up === input.expectedOsds &&
            s.osds_in === input.expectedOsds &&
            s.mons_in_quorum.length >= input.expectedMons &&
            s.mgr_available &&
            s.pgs_total > 0 &&
            s.pgs_active_clean === s.pgs_total;
          return ready ? { pgs: s.pgs_total, osds: s.osds_total } : undefined;
        },
      });
      try {
        return await waiting;
      } catch (err) {
        // The operation's error says why the cluster is not ready, not only that it is not.
        if (err instanceof ApplicationFailure && err.type === FAILURE.pgsNotClean && last)
          throw permanent(FAILURE.pgsNotClean, `${err.message} Last seen: ${last}.`);
        throw err;
      }
    },

    // ---- deletion ------------------------------------------------------------------------------

    async stopClusterHost(input: { clusterId: string; host: string; fsid: string | null }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ledger.before('ceph_removal_started', input.clusterId, { cluster_id: input.clusterId });
        await ceph.removeHostDaemons(input.host, input.fsid);
      });
    },

    /**
     * Wipes the devices Ceph on the host attributes to this cluster's OSDs, read there at delete time
     * (they outlive `rm-cluster`), and nothing else: `input.devices` (NodeFoundry's record) only
     * serves to report what the record expected and Ceph did not confirm. An OSD id can move to
     * another host; wiping the recorded device on the recorded host would then destroy another disk.
     */
    async zapClusterHost(input: {
      clusterId: string;
      host: string;
      fsid: string | null;
      devices: string[];
    }): Promise<{ zapped: string[]; not_ceph: string[] }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const devices = await ceph.osdDevicesOn(input.host, input.fsid);
        await ceph.zapDevices(input.host, input.fsid, devices);
        return { zapped: devices, not_ceph: [...new Set(input.devices)].filter((d) => !devices.includes(d)).sort() };
      });
    },

    async purgeClusterCeph(input: { clusterId: string }): Promise<void> {
      return guarded(async () => (await cephFor(deps, input.clusterId)).purgeCluster());
    },

    /** Nodes leave and return to pending; pools, OSDs and the cluster row go, in one transaction. Idempotent. */
    async finishClusterDelete(input: { clusterId: string }): Promise<{ nodes: number }> {
      return deps.db.transaction().execute(async (trx) => {
        const released = await nodes.releaseClusterMembers(trx, input.clusterId, 'pending');
        await clusters.deleteClusterRecords(trx, input.clusterId);
        return { nodes: released };
      });
    },
  };
}
