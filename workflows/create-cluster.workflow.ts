import { ApplicationFailure } from '@temporalio/workflow';
import { act } from './activity-proxies';
import type { CreateClusterInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { createClusterPlan, type ClusterLayout } from './plans/create-cluster.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';
import { deployerSummaries } from './deployer-summaries';

/**
 * Creates a Ceph cluster from ready nodes (SPEC §3): preflight (the dry run's planner), nodes
 * provisioning, power on where off, SSH, cephadm bootstrap on the first node, other hosts added,
 * mons and mgrs placed across failure domains, OSDs on every healthy drive Ceph accepts, the CRUSH
 * rule of the failure domain, then the readiness gate (HEALTH_OK and OSDs up = in = expected, mons
 * in quorum, PGs active+clean), OSDs recorded, cluster HEALTH_OK, nodes active.
 *
 * A failure or cancel leaves the cluster ERROR with the reason. Nodes on which nothing was installed
 * yet (before bootstrap) are released to ready, and the machines this operation powered on are
 * powered off again; after bootstrap they stay members in `error` until the cluster is deleted,
 * because Ceph is partly on their disks.
 */
export async function createClusterWorkflow(input: CreateClusterInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['cluster.create'].steps);
  const { clusterId } = input;
  let layout: ClusterLayout | null = null;
  let bootstrapStarted = false;
  const poweredOn: string[] = [];

  return runOperation(input.operationId, op, {
    run: async () => {
      const req = await op.step('preflight', async () => {
        const r = await act.describeCreateRequest.executeWithOptions({ summary: 'read the request' }, [
          { clusterId, operationId: input.operationId },
        ]);
        const facts = await act.describeClusterCreate.executeWithOptions({ summary: 'read the nodes' }, [
          { accountId: r.accountId, environment: r.environment, clusterId, name: r.name, nodeIds: r.nodeIds },
        ]);
        const plan = createClusterPlan(facts, r);
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        layout = plan.layout;
        op.log(
          `creating ${r.name} (${r.cephVersion}, ${r.deployment ?? 'packages'} deployer, failure domain ${r.failureDomain}, size ${r.replicationFactor}) on ${layout.hosts.map((h) => h.hostname).join(', ')}`,
        );
        op.log(`mons: ${layout.mons.join(', ')}; mgrs: ${layout.mgrs.join(', ')}`);
        for (const h of layout.hosts)
          if (h.skippedDevices.length)
            op.log(`${h.hostname}: no OSD on ${h.skippedDevices.join(', ')} (SMART not passed)`);
        return r;
      });
      const l = layout!;
      const say = deployerSummaries(req.deployment);
      const nodeIds = l.hosts.map((h) => h.nodeId);

      await op.step('mark_provisioning', async () => {
        await act.markNodesProvisioning.executeWithOptions({ summary: 'nodes provisioning' }, [{ clusterId, nodeIds }]);
      });

      await op.step('power_on', async () => {
        await Promise.all(
          l.hosts.map(async (h) => {
            const r = await act.powerCommand.executeWithOptions({ summary: `IPMI chassis power on (${h.hostname})` }, [
              { nodeId: h.nodeId, command: 'on' },
            ]);
            if (r.sent) {
              poweredOn.push(h.nodeId);
              op.log(`${h.hostname} was off: power on sent`);
            }
            await act.waitForPower.executeWithOptions({ summary: `wait for ${h.hostname} to power on` }, [
              { nodeId: h.nodeId, state: 'on' },
            ]);
          }),
        );
      });

      await op.step('wait_ssh', async () => {
        await Promise.all(
          l.hosts.map((h) =>
            act.waitForSsh.executeWithOptions({ summary: `wait for SSH on ${h.hostname}` }, [{ nodeId: h.nodeId }]),
          ),
        );
        op.log('SSH answers on every node, host keys verified');
      });

      const admin = l.hosts[0]!;
      const { fsid } = await op.step('bootstrap', async () => {
        // Marked before the call: from here on Ceph may be on the disks.
        bootstrapStarted = true;
        const r = await act.bootstrapCluster.executeWithOptions({ summary: say.bootstrap(admin.hostname) }, [
          {
            clusterId,
            host: admin.hostname,
            address: admin.ipAddress,
            cephVersion: req.cephVersion,
            replication: req.replicationFactor,
          },
        ]);
        op.log(`bootstrapped on ${admin.hostname}: fsid ${r.fsid}`);
        return r;
      });

      const spec = (h: ClusterLayout['hosts'][number]) => ({
        hostname: h.hostname,
        address: h.ipAddress,
        rack: h.rack,
        zone: h.zone,
      });
      await op.step('add_hosts', async () => {
        for (const h of l.hosts.slice(1)) {
          await act.addClusterHost.executeWithOptions({ summary: say.addHost(h.hostname) }, [
            { clusterId, host: spec(h) },
          ]);
          op.log(`host ${h.hostname} added`);
        }
      });

      await op.step('place_mons', async () => {
        await act.placeClusterDaemons.executeWithOptions({ summary: say.placeDaemons('mon', l.mons) }, [
          { clusterId, type: 'mon', hosts: l.mons },
        ]);
        op.log(`${l.mons.length} mons running: ${l.mons.join(', ')}`);
      });

      await op.step('place_mgrs', async () => {
        await act.placeClusterDaemons.executeWithOptions({ summary: say.placeDaemons('mgr', l.mgrs) }, [
          { clusterId, type: 'mgr', hosts: l.mgrs },
        ]);
        op.log(`${l.mgrs.length} mgrs running: ${l.mgrs.join(', ')}`);
      });

      const osds: { host: string; device: string; osd_id: number }[] = [];
      await op.step('create_osds', async () => {
        await Promise.all(
          l.hosts.map(async (h) => {
            const devices = await act.hostDevices.executeWithOptions({ summary: say.devices(h.hostname) }, [
              { clusterId, host: h.hostname },
            ]);
            for (const device of h.osdDevices) {
              const d = devices.find((x) => x.device === device);
              if (!d || !d.available) {
                op.log(
                  `${h.hostname}: no OSD on ${device}: ${d ? d.rejected_reasons.join(', ') || 'unavailable' : 'not seen by Ceph'}`,
                );
                continue;
              }
              const r = await act.createClusterOsd.executeWithOptions({ summary: say.createOsd(h.hostname, device) }, [
                { clusterId, nodeId: h.nodeId, host: h.hostname, device },
              ]);
              osds.push({ host: h.hostname, device, osd_id: r.osd_id });
            }
          }),
        );
        if (osds.length === 0)
          throw ApplicationFailure.nonRetryable(
            'No OSD could be created: Ceph accepted none of the healthy drives.',
            'invalid_state',
          );
        osds.sort((a, b) => a.osd_id - b.osd_id);
        op.log(`${osds.length} OSDs created: ${osds.map((o) => `osd.${o.osd_id} ${o.host}:${o.device}`).join(', ')}`);
      });

      await op.step('create_crush_rule', async () => {
        const r = await act.createClusterCrushRule.executeWithOptions(
          { summary: `ceph osd crush rule create-replicated ${l.crushRule}` },
          [{ clusterId, failureDomain: req.failureDomain, ruleName: l.crushRule, hosts: l.hosts.map(spec) }],
        );
        op.log(`CRUSH rule ${l.crushRule} (id ${r.rule_id}) chooses across ${req.failureDomain}`);
      });

      await op.step('wait_ready', async () => {
        const r = await act.waitClusterReady.executeWithOptions(
          { summary: 'wait for HEALTH_OK, OSDs up and in, PGs active+clean' },
          [{ clusterId, expectedOsds: osds.length, expectedMons: l.mons.length }],
        );
        op.log(`ready: HEALTH_OK, ${r.osds} OSDs up and in, ${r.pgs} PGs active+clean`);
      });

      await op.step('record_state', async () => {
        const s = await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [
          { clusterId },
        ]);
        await act.markNodesActive.executeWithOptions({ summary: 'nodes active' }, [{ clusterId }]);
        op.log(`cluster ${s.health}, ${s.osds_total} OSDs recorded, nodes active`);
      });

      return { cluster_id: clusterId, fsid, mons: l.mons, mgrs: l.mgrs, crush_rule: l.crushRule, osds };
    },

    compensate: async (o, why) => {
      const release = !bootstrapStarted;
      const what = why.code === 'cancelled' ? 'cancelled' : `failed (${why.code}): ${why.message}`;
      const reason = `${what}${release ? '; nothing was installed, the nodes were released' : '; delete the cluster to wipe and release its nodes'}`;
      return undoAll(
        [
          {
            // A machine this operation powered on goes back off only if it never became part of Ceph.
            what: `power off ${poweredOn.length} machine(s) this operation powered on`,
            when: release && poweredOn.length > 0,
            run: () =>
              Promise.all(
                poweredOn.map((nodeId) =>
                  act.powerCommandUndo.executeWithOptions(
                    { summary: `IPMI chassis power off ${nodeId} (compensation)` },
                    [{ nodeId, command: 'off' }],
                  ),
                ),
              ),
          },
          {
            what: release ? 'cluster ERROR, nodes released to ready' : 'cluster ERROR, nodes kept as members in error',
            when: true,
            run: () =>
              act.failClusterCreate.executeWithOptions({ summary: 'cluster ERROR' }, [{ clusterId, reason, release }]),
          },
        ],
        o,
      );
    },
  });
}
