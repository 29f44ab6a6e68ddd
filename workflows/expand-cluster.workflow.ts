import { ApplicationFailure } from '@temporalio/workflow';
import type { BackfillObservation } from '../activities/reweight.activities';
import { act } from './activity-proxies';
import type { ExpandClusterInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { expandPlan, weightSchedule, type ExpandHost, type WeightStep } from './plans/expand-cluster.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';
import { UpgradeControl } from './upgrade-control';

const round5 = (w: number) => Math.round(w * 1e5) / 1e5;

/** Progress moves through raise_weights with the weight steps settled: an expansion of hours must not sit at one number. */
class ExpandTracker extends OperationTracker {
  constructor(private readonly names: readonly string[]) {
    super(names);
  }

  /** `done` of `of` weight steps settled: the steps before raise_weights, plus that share of it. */
  stepsSettled(done: number, of: number): void {
    const before = this.names.indexOf('raise_weights');
    const share = of > 0 ? Math.max(0, Math.min(1, done / of)) : 0;
    this.setProgress(((before + share) / this.names.length) * 100);
  }
}

/**
 * Adds ready nodes to a running cluster (issue 13 item 3): preflight (the dry run's planner: nodes,
 * failure domains, capacity after the move below nearfull, no host in maintenance), nodes claimed,
 * powered on, SSH, hosts added, their OSDs created at CRUSH weight 0, then the weights raised to
 * full in steps that each misplace at most `maxMisplacedRatio` of the objects (Ceph's
 * target_max_misplaced_ratio), each step only once the cluster is not HEALTH_ERR and the previous
 * step's backfill settled. Pausable between steps (pause/resume updates, like an upgrade); a failed
 * step pauses the expansion and is retried on resume.
 *
 * Cancel or failure (docs/operators.md "Adding hosts"): the new OSDs' weights go back to 0 (the
 * data returns to the OSDs that held it before, which had room for it); hosts already added stay in
 * the cluster with their OSDs at weight 0 and the nodes stay online members (removing them is the
 * host removal); nodes that Ceph never reached are released to ready and powered off again if this
 * operation powered them on.
 */
export async function expandClusterWorkflow(input: ExpandClusterInput): Promise<Record<string, unknown>> {
  const op = new ExpandTracker(OPERATIONS['cluster.expand'].steps);
  const { clusterId, nodeIds } = input;
  const control = new UpgradeControl(
    op,
    { operationId: input.operationId, clusterId },
    {
      noun: 'expansion',
      holds: 'No new weight step starts; the step in flight settles first.',
      finishing: 'The expansion has raised every weight and is recording the cluster; it can no longer be paused.',
    },
  );
  control.registerHandlers();

  let hosts: ExpandHost[] = [];
  let claimed = false;
  let hostsAdded = false;
  let weightSent = false;
  const poweredOn: string[] = [];
  const created: { osd_id: number; host: string; device: string; device_weight: number }[] = [];

  return runOperation(input.operationId, op, {
    run: async () => {
      let schedule: WeightStep[] = [];
      let failureDomain = 'host';
      let existingWeight = 0;
      await op.step('preflight', async () => {
        const facts = await act.describeClusterExpand.executeWithOptions(
          { summary: 'read the cluster and the nodes' },
          [{ clusterId, nodeIds }],
        );
        const plan = expandPlan(facts, { nodeIds, maxMisplacedRatio: input.maxMisplacedRatio });
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        hosts = plan.hosts;
        schedule = plan.schedule;
        existingWeight = Number(plan.facts.crush_weight_before);
        failureDomain = facts.failureDomain;
        const f = plan.facts;
        op.log(
          `adding ${hosts.map((h) => h.hostname).join(', ')} to ${facts.clusterName}: ${f.capacity_gb_added} GB raw added, ` +
            `use ${Math.round(Number(f.used_ratio_before) * 1000) / 10} % → ${Math.round(Number(f.used_ratio_after) * 1000) / 10} % after the move`,
        );
        op.log(
          `weights raised in ${schedule.length} step(s) (${schedule.map((s) => s.fraction).join(' → ')}), each misplacing at most ${Math.round(input.maxMisplacedRatio * 1000) / 10} % of the objects`,
        );
        for (const h of hosts)
          if (h.skippedDevices.length)
            op.log(`${h.hostname}: no OSD on ${h.skippedDevices.join(', ')} (SMART not passed)`);
      });

      await op.step('mark_provisioning', async () => {
        claimed = true;
        await act.markNodesProvisioning.executeWithOptions({ summary: 'nodes provisioning' }, [{ clusterId, nodeIds }]);
      });

      await op.step('power_on', async () => {
        await Promise.all(
          hosts.map(async (h) => {
            const r = await act.powerCommand.executeWithOptions({ summary: `power on ${h.hostname}` }, [
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
          hosts.map((h) =>
            act.waitForSsh.executeWithOptions({ summary: `wait for SSH on ${h.hostname}` }, [{ nodeId: h.nodeId }]),
          ),
        );
        op.log('SSH answers on every new node, host keys verified');
      });

      await op.step('add_hosts', async () => {
        for (const h of hosts) {
          // Marked before the call: from here on Ceph may know the host.
          hostsAdded = true;
          await act.addExpandHost.executeWithOptions({ summary: `add host ${h.hostname}` }, [
            {
              clusterId,
              host: { hostname: h.hostname, address: h.ipAddress, rack: h.rack, zone: h.zone },
              failureDomain,
            },
          ]);
          op.log(
            `host ${h.hostname} added${failureDomain !== 'host' ? ` under ${failureDomain} ${failureDomain === 'rack' ? h.rack : h.zone}` : ''}`,
          );
        }
      });

      await op.step('create_osds', async () => {
        for (const h of hosts) {
          const devices = await act.hostDevices.executeWithOptions({ summary: `devices of ${h.hostname}` }, [
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
            const r = await act.createZeroWeightOsd.executeWithOptions(
              { summary: `create an OSD at weight 0 on ${h.hostname}:${device}` },
              [{ clusterId, nodeId: h.nodeId, host: h.hostname, device }],
            );
            created.push({ osd_id: r.osd_id, host: h.hostname, device, device_weight: r.device_weight });
          }
        }
        if (created.length === 0)
          throw ApplicationFailure.nonRetryable(
            'No OSD could be created on the new hosts: Ceph accepted none of their healthy drives.',
            'invalid_state',
          );
        op.log(
          `${created.length} OSDs created at CRUSH weight 0: ${created.map((o) => `osd.${o.osd_id} ${o.host}:${o.device}`).join(', ')}`,
        );
        // The steps from the OSDs Ceph actually made (a device it refused adds no weight).
        const actual = weightSchedule(
          existingWeight,
          created.reduce((sum, o) => sum + o.device_weight, 0),
          input.maxMisplacedRatio,
        );
        if (actual.map((x) => x.fraction).join() !== schedule.map((x) => x.fraction).join()) {
          schedule = actual;
          op.log(`weight steps for the OSDs created: ${schedule.map((x) => x.fraction).join(' → ')}`);
        }
      });

      await op.step('raise_weights', async () => {
        const watched = created[0]!.osd_id;
        for (let i = 0; i < schedule.length; i++) {
          const s = schedule[i]!;
          const what = `weight step ${i + 1}/${schedule.length} (${s.fraction} of full weight)`;
          await control.atSafePoint(what, async () => {
            weightSent = true;
            for (const o of created) {
              await act.setCrushWeight.executeWithOptions(
                { summary: `ceph osd crush reweight osd.${o.osd_id} ${round5(s.fraction * o.device_weight)}` },
                [{ clusterId, osdId: o.osd_id, weight: round5(s.fraction * o.device_weight), target: o.device_weight }],
              );
            }
            let last: BackfillObservation | null = null;
            for (;;) {
              const b: BackfillObservation = await act.watchBackfill.executeWithOptions(
                { summary: `wait for backfill after ${what}` },
                [
                  {
                    clusterId,
                    osdId: watched,
                    drain: false,
                    lastPgs: last?.pgs ?? null,
                    lastClean: last?.pgs_active_clean ?? null,
                  },
                ],
              );
              last = b;
              if (b.unplaceable.length > 0) {
                throw ApplicationFailure.nonRetryable(
                  `CRUSH finds no place for PGs ${b.unplaceable.slice(0, 5).join(', ')} after ${what}.`,
                  'drain_cannot_finish',
                );
              }
              if (b.done) break;
            }
            op.log(
              `${what}: new OSDs hold ${Math.round(s.data_share * 1000) / 10} % of the data (${Math.round(s.misplaced * 1000) / 10} % misplaced by this step); backfill settled, ${last.pgs_active_clean}/${last.pgs_total} PGs active+clean`,
            );
          });
          op.stepsSettled(i + 1, schedule.length);
        }
        control.hostsFinished();
      });

      await op.step('record_state', async () => {
        const s = await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [
          { clusterId },
        ]);
        await act.settleExpandNodes.executeWithOptions({ summary: 'new nodes online' }, [
          { clusterId, nodeIds, release: false, reason: null },
        ]);
        op.log(`cluster ${s.health}, ${s.osds_total} OSDs recorded; ${hosts.map((h) => h.hostname).join(', ')} online`);
      });

      return {
        cluster_id: clusterId,
        hosts: hosts.map((h) => h.hostname),
        osds: created.map((o) => ({ osd_id: o.osd_id, host: o.host, device: o.device, crush_weight: o.device_weight })),
        weight_steps: schedule.map((s) => s.fraction),
      };
    },

    compensate: async (o, why) => {
      control.compensating();
      const what = why.code === 'cancelled' ? 'cancelled' : `failed (${why.code})`;
      const release = claimed && !hostsAdded;
      return undoAll(
        [
          {
            what: `CRUSH weights of the new OSDs back to 0 (${created.map((c) => `osd.${c.osd_id}`).join(', ')}): their data returns to the OSDs that held it`,
            when: weightSent,
            run: async () => {
              for (const c of created)
                await act.setCrushWeightUndo.executeWithOptions(
                  { summary: `ceph osd crush reweight osd.${c.osd_id} 0 (compensation)` },
                  [{ clusterId, osdId: c.osd_id, weight: 0 }],
                );
            },
          },
          {
            what: `power off ${poweredOn.length} machine(s) this operation powered on`,
            when: release && poweredOn.length > 0,
            run: () =>
              Promise.all(
                poweredOn.map((nodeId) =>
                  act.powerCommandUndo.executeWithOptions({ summary: `power off ${nodeId} (compensation)` }, [
                    { nodeId, command: 'off' },
                  ]),
                ),
              ),
          },
          {
            what: release
              ? 'nodes released to ready (nothing of Ceph reached them)'
              : `hosts ${hosts.map((h) => h.hostname).join(', ')} stay in the cluster with their OSDs at weight 0; nodes online members`,
            when: claimed,
            run: () =>
              act.settleExpandNodesUndo.executeWithOptions({ summary: 'settle the new nodes (compensation)' }, [
                {
                  clusterId,
                  nodeIds,
                  release,
                  reason: release
                    ? null
                    : `expansion ${what}: in the cluster with OSDs at CRUSH weight 0; reweight them or remove the host`,
                },
              ]),
          },
          {
            what: 'record the cluster state',
            when: hostsAdded,
            run: () =>
              act.refreshClusterState.executeWithOptions({ summary: 'record cluster state (compensation)' }, [
                { clusterId },
              ]),
          },
        ],
        o,
      );
    },
  });
}
