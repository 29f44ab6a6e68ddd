import { patched } from '@temporalio/workflow';
import { act } from './activity-proxies';
import type { DeleteClusterInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { deleteClusterPlan, type DeleteClusterFacts } from './plans/delete-cluster.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';
import { deployerSummaries } from './deployer-summaries';

/**
 * Deletes a cluster (SPEC §3): stops every Ceph daemon host by host, wipes the OSD devices, forgets
 * the cluster; the nodes leave it and return to pending, and the cluster row is removed (GET 404).
 * A failure or cancel before any daemon was stopped puts the cluster back as it was; after that the
 * cluster is ERROR (its data is partly gone) and a new delete finishes the job.
 */
export async function deleteClusterWorkflow(input: DeleteClusterInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['cluster.delete'].steps);
  const { clusterId } = input;
  let facts: DeleteClusterFacts | null = null;
  let destroying = false;

  return runOperation(input.operationId, op, {
    run: async () => {
      const f = await op.step('preflight', async () => {
        facts = await act.describeClusterDelete.executeWithOptions({ summary: 'read the cluster' }, [
          { clusterId, operationId: input.operationId },
        ]);
        const plan = deleteClusterPlan(facts);
        op.log(`deleting ${facts.name} (${facts.status}): ${plan.steps.map((s) => s.name).join(' → ')}`);
        return facts;
      });
      await op.step('mark_deleting', () =>
        act.setClusterStatus.executeWithOptions({ summary: 'cluster DELETING' }, [{ clusterId, status: 'DELETING' }]),
      );

      await op.step('power_on', async () => {
        await Promise.all(
          f.nodes.map(async (n) => {
            const r = await act.powerCommand.executeWithOptions({ summary: `IPMI chassis power on (${n.hostname})` }, [
              { nodeId: n.nodeId, command: 'on' },
            ]);
            if (r.sent) op.log(`${n.hostname} was off: power on sent`);
            await act.waitForPower.executeWithOptions({ summary: `wait for ${n.hostname} to power on` }, [
              { nodeId: n.nodeId, state: 'on' },
            ]);
          }),
        );
      });
      await op.step('wait_ssh', () =>
        Promise.all(
          f.nodes.map((n) =>
            act.waitForSsh.executeWithOptions({ summary: `wait for SSH on ${n.hostname}` }, [{ nodeId: n.nodeId }]),
          ),
        ),
      );

      await op.step('stop_ceph', async () => {
        destroying = true;
        await Promise.all(
          f.nodes.map((n) =>
            act.stopClusterHost.executeWithOptions({ summary: deployerSummaries(f.deployment).stopHost(n.hostname) }, [
              { clusterId, host: n.hostname, fsid: f.fsid },
            ]),
          ),
        );
        op.log(`Ceph stopped on ${f.nodes.map((n) => n.hostname).join(', ')}`);
      });

      await op.step('zap_devices', async () => {
        const results = await Promise.all(
          f.nodes.map((n) => {
            const devices = f.osdDevices[n.hostname] ?? [];
            return act.zapClusterHost.executeWithOptions(
              { summary: `zap ${devices.length} device(s) on ${n.hostname}` },
              [{ clusterId, host: n.hostname, fsid: f.fsid, devices }],
            );
          }),
        );
        // The activity wipes what Ceph on each host attributes to the cluster's OSDs (issue 8 #10);
        // the log says what was wiped where. Older histories logged the recorded count.
        if (patched('delete-cluster-zap-by-ceph')) {
          const zapped = results.map((r, i) => ({
            host: f.nodes[i]!.hostname,
            r: r as { zapped?: string[]; not_ceph?: string[] } | undefined,
          }));
          const count = zapped.reduce((s, z) => s + (z.r?.zapped?.length ?? 0), 0);
          op.log(
            `${count} OSD device(s) wiped, as Ceph attributes them: ${zapped.map((z) => `${z.host}: ${z.r?.zapped?.join(', ') || 'none'}`).join('; ')}`,
          );
          for (const z of zapped) {
            if (z.r?.not_ceph?.length)
              op.log(
                `${z.host}: not wiped, recorded but not an OSD device of this cluster there: ${z.r.not_ceph.join(', ')}`,
              );
          }
        } else {
          const count = Object.values(f.osdDevices).reduce((s, d) => s + d.length, 0);
          op.log(`${count} OSD device(s) wiped`);
        }
      });

      await op.step('remove_cluster', () =>
        act.purgeClusterCeph.executeWithOptions({ summary: 'forget the cluster' }, [{ clusterId }]),
      );

      const released = await op.step('release_nodes', () =>
        act.finishClusterDelete.executeWithOptions({ summary: 'nodes pending, cluster removed' }, [{ clusterId }]),
      );
      op.log(`${released.nodes} node(s) returned to pending; cluster ${f.name} removed`);
      return { cluster_id: clusterId, name: f.name, nodes: f.nodes.map((n) => n.nodeId), pools: f.pools };
    },

    compensate: async (o, why) => {
      const problems: string[] = [];
      // A cancel that lands before the preflight read the cluster: the API already marked it
      // DELETING, so read its previous status now and put it back. Added after the first histories
      // were recorded: patched() keeps those replaying unchanged.
      if (facts === null && patched('delete-cluster-restores-before-preflight')) {
        try {
          facts = await act.describeClusterDeleteUndo.executeWithOptions({ summary: 'read the cluster' }, [
            { clusterId, operationId: input.operationId },
          ]);
        } catch (err) {
          problems.push(`reading the cluster failed: ${describeFailure(err).message}`);
        }
      }
      const before = (facts as DeleteClusterFacts | null)?.status ?? 'ERROR';
      const what = why.code === 'cancelled' ? 'cancelled' : `failed (${why.code}): ${why.message}`;
      const undone = await undoAll(
        [
          {
            what: destroying ? 'cluster ERROR (partly deleted)' : `cluster back to ${before}`,
            when: facts !== null,
            run: () =>
              act.setClusterStatusUndo.executeWithOptions({ summary: 'cluster status after a failed delete' }, [
                destroying
                  ? { clusterId, status: 'ERROR', reason: `deletion ${what}; Ceph was partly removed: delete it again` }
                  : { clusterId, status: before, reason: `deletion ${what}; nothing was removed` },
              ]),
          },
        ],
        o,
      );
      return [...problems, ...undone];
    },
  });
}
