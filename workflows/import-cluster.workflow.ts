import { ApplicationFailure, patched } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { parseCephVersion } from './ceph-releases';
import type { ImportClusterInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { importClusterPlan } from './plans/import-cluster.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Adopts an existing Ceph cluster (POST /v1/clusters/import): every member answers SSH with its
 * pinned host key; Ceph is read through the admin node (fsid, health, daemon versions and hosts,
 * OSDs, pools, CRUSH rules); every host Ceph runs daemons on must be a member, and the fsid must not
 * be managed already; then the cluster is recorded (version, failure domain and replication as
 * Ceph has them, user pools, OSDs, health) and its members become active.
 *
 * Nothing is changed on Ceph, so a failure or cancel has nothing to restore there: the cluster
 * record is removed and the members are released to ready; the operation says why.
 */
export async function importClusterWorkflow(input: ImportClusterInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['cluster.import'].steps);
  const { clusterId } = input;

  return runOperation(input.operationId, op, {
    run: async () => {
      const req = await op.step('preflight', async () => {
        const r = await act.describeImport.executeWithOptions({ summary: 'read the request' }, [{ clusterId }]);
        op.log(
          `importing ${r.name} through ${r.adminHostname}; members: ${r.members.map((m) => m.hostname).join(', ')}`,
        );
        return r;
      });

      await op.step('wait_ssh', async () => {
        await Promise.all(
          req.members.map((m) =>
            act.waitForSsh.executeWithOptions({ summary: `wait for SSH on ${m.hostname}` }, [{ nodeId: m.nodeId }]),
          ),
        );
        op.log('SSH answers on every member, host keys verified');
      });

      const found = await op.step('discover', async () => {
        const { discovery: d, fsidTakenBy } = await act.discoverCluster.executeWithOptions(
          { summary: `read Ceph through ${req.adminHostname}` },
          [{ clusterId }],
        );
        const plan = importClusterPlan(req.members, d, fsidTakenBy);
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        const l = plan.layout!;
        op.log(
          `fsid ${d.fsid}: ${d.health}, ${d.osdCount} OSDs on ${d.cephHosts.length} host(s), mons in quorum ${d.monsInQuorum.length}/${d.monsTotal}`,
        );
        op.log(
          `Ceph ${l.cephVersion}${l.otherVersions.length ? ` (some daemons run ${l.otherVersions.join(', ')})` : ''}; failure domain ${l.failureDomain}, replication ${l.replicationFactor}`,
        );
        op.log(`pools: ${d.pools.map((p) => p.name).join(', ') || '(none)'}`);
        if (l.idleMembers.length) op.log(`members without Ceph daemons: ${l.idleMembers.join(', ')}`);
        return { d, l };
      });

      const recorded = await op.step('record', async () => {
        const r = await act.recordImportedCluster.executeWithOptions({ summary: 'record the cluster and its pools' }, [
          { clusterId, fsid: found.d.fsid, layout: found.l },
        ]);
        const s = await act.refreshClusterState.executeWithOptions({ summary: 'record OSDs and health' }, [
          { clusterId },
        ]);
        op.log(`cluster ${s.health}, ${s.osds_total} OSDs and ${r.pools.length} pool(s) recorded, members active`);
        return { pools: r.pools, health: s.health, osds: s.osds_total };
      });

      // One ceph_version vocabulary (issue 12 #4): the release name, the point version beside it.
      // Added after the first histories were recorded: patched() keeps those replaying unchanged.
      const parsed = parseCephVersion(found.l.cephVersion);
      const version =
        patched('import-result-release-name') && parsed
          ? { ceph_version: parsed.release, ceph_point_version: parsed.version }
          : { ceph_version: found.l.cephVersion };
      return {
        cluster_id: clusterId,
        fsid: found.d.fsid,
        ...version,
        failure_domain: found.l.failureDomain,
        replication_factor: found.l.replicationFactor,
        health: recorded.health,
        osds: recorded.osds,
        pools: recorded.pools,
      };
    },

    compensate: (o, why) =>
      undoAll(
        [
          {
            what: `import ${why.code === 'cancelled' ? 'cancelled' : 'failed'}: cluster record removed, nodes released to ready (nothing was changed on Ceph)`,
            when: true,
            run: () =>
              act.undoClusterImport.executeWithOptions({ summary: 'remove the cluster record, release the nodes' }, [
                { clusterId },
              ]),
          },
        ],
        o,
      ),
  });
}
