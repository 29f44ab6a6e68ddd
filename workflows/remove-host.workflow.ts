import { ApplicationFailure, CancellationScope, patched } from '@temporalio/workflow';
import type { BackfillObservation } from '../activities/reweight.activities';
import { act } from './activity-proxies';
import type { RemoveHostInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { removeHostPlan } from './plans/remove-host.plan';
import { REWEIGHT_FAILURE } from './plans/reweight-osd.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Removes a host from its cluster (SPEC §3 day-2, issue 13 item 4; docs/operators.md "Removing a
 * host"). Preflight refuses what the dry run refuses (capacity below nearfull, failure domains,
 * admin node) with figures; mons and mgrs are placed elsewhere keeping their count; every OSD of
 * the host is drained through the reweight activities (original weights recorded in the change
 * ledger) and checked safe to destroy. Up to there a cancel or failure puts everything back: the
 * weights restored, mons and mgrs placed where they were. From `purge_osds` on there is no way back
 * (an OSD purged cannot be restored): those steps run shielded from cancellation and finish the
 * removal; a failure there leaves a host that a second DELETE finishes (every step is idempotent).
 */
export async function removeHostWorkflow(input: RemoveHostInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['cluster.shrink'].steps);
  const { clusterId, nodeId } = input;
  let host = nodeId;
  // What compensation needs.
  const originals = new Map<number, number>();
  const weightSent = new Set<number>();
  let monsBefore: string[] | null = null;
  let mgrsBefore: string[] | null = null;
  let purging = false;

  return runOperation(input.operationId, op, {
    run: async () => {
      const facts = await op.step('preflight', async () => {
        const f = await act.readRemoveHostFacts.executeWithOptions({ summary: `read the cluster and ${nodeId}` }, [
          { clusterId, nodeId },
        ]);
        host = f.host;
        const plan = removeHostPlan(f);
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        for (const o of f.osds) if (o.host === host) originals.set(o.id, o.crush_weight);
        const pf = plan.facts as { used_gb: number; remaining_capacity_gb: number; used_ratio_after: number };
        op.log(
          `${host} holds ${originals.size} OSD(s); ${pf.used_gb} GB stored fits the ${pf.remaining_capacity_gb} GB left ` +
            `(${Math.round(pf.used_ratio_after * 100)} % full after the move, nearfull at 85 %)`,
        );
        op.log(
          `recorded CRUSH weights: ${[...originals].map(([id, w]) => `osd.${id} ${w} TiB`).join(', ') || 'none'}; restored on cancel or failure until the OSDs are purged`,
        );
        return { f, plan };
      });
      const planFacts = facts.plan.facts as { mons_after: string[]; mgrs_after: string[] };

      for (const type of ['mon', 'mgr'] as const) {
        const step = type === 'mon' ? 'move_mons' : 'move_mgrs';
        const before = type === 'mon' ? facts.f.mons : facts.f.mgrs;
        const after = type === 'mon' ? planFacts.mons_after : planFacts.mgrs_after;
        if (!before.includes(host)) {
          op.skip(step, `${host} runs no ${type}`);
          continue;
        }
        await op.step(step, async () => {
          if (type === 'mon') monsBefore = before;
          else mgrsBefore = before;
          // Histories from before the patch cancelled the placement without waiting for it to stop,
          // and compensation could run beside it (the lab saw mgrs left not as they were).
          const place = patched('shrink-placement-cancel-waits')
            ? act.placeDaemonsAndWaitToEnd
            : act.placeDaemonsAndWait;
          await place.executeWithOptions({ summary: `place ${type}s on ${after.join(', ')}` }, [
            { clusterId, type, hosts: after },
          ]);
          op.log(`${type}s run on ${after.join(', ')} (were on ${before.join(', ')})`);
        });
      }

      const osdIds = [...originals.keys()].sort((a, b) => a - b);
      if (osdIds.length === 0) {
        op.skip('drain_osds', `${host} holds no OSD`);
        op.skip('safe_to_destroy', `${host} holds no OSD`);
      } else {
        await op.step('drain_osds', async () => {
          for (const osdId of osdIds) {
            // Marked before the call: a lost reply still gets the weight restored.
            weightSent.add(osdId);
            await act.setCrushWeight.executeWithOptions({ summary: `ceph osd crush reweight osd.${osdId} 0` }, [
              { clusterId, osdId, weight: 0 },
            ]);
          }
          op.log(`CRUSH weight 0 on ${osdIds.map((i) => `osd.${i}`).join(', ')}`);
          for (const osdId of osdIds) {
            let last: BackfillObservation | null = null;
            for (;;) {
              const o: BackfillObservation = await act.watchBackfill.executeWithOptions(
                { summary: `watch osd.${osdId} drain (${last?.pgs ?? '?'} PGs left)` },
                [
                  {
                    clusterId,
                    osdId,
                    drain: true,
                    lastPgs: last?.pgs ?? null,
                    lastClean: last?.pgs_active_clean ?? null,
                  },
                ],
              );
              last = o;
              if (o.unplaceable.length > 0) {
                throw ApplicationFailure.nonRetryable(
                  `The drain of osd.${osdId} can never finish: CRUSH finds no place for PGs ${o.unplaceable.slice(0, 5).join(', ')} without ${host}.`,
                  REWEIGHT_FAILURE.drainCannotFinish,
                );
              }
              op.log(`osd.${osdId} holds ${o.pgs} PGs; ${o.pgs_active_clean}/${o.pgs_total} PGs active+clean`);
              if (o.done) break;
            }
          }
        });
        await op.step('safe_to_destroy', async () => {
          for (const osdId of osdIds) {
            await act.assertSafeToDestroy.executeWithOptions({ summary: `ceph osd safe-to-destroy ${osdId}` }, [
              { clusterId, osdId },
            ]);
          }
          op.log(`ceph osd safe-to-destroy ${osdIds.join(' ')}: safe`);
        });
      }

      // No way back from here: a purged OSD cannot be restored. A cancel no longer stops the removal.
      purging = true;
      return CancellationScope.nonCancellable(async () => {
        const purged = await op.step('purge_osds', () =>
          act.purgeHostOsds.executeWithOptions({ summary: `stop Ceph on ${host}, purge its OSDs, zap` }, [
            { clusterId, host, osdIds },
          ]),
        );
        op.log(
          `Ceph stopped on ${host}; purged ${purged.purged.map((i) => `osd.${i}`).join(', ') || 'no OSD'}; zapped ${purged.zapped.map((d) => `/dev/${d}`).join(', ') || 'no device'}`,
        );
        await op.step('remove_host', () =>
          act.removeHostFromCrush.executeWithOptions({ summary: `ceph osd crush remove ${host}` }, [
            { clusterId, host },
          ]),
        );
        op.log(`${host} removed from CRUSH`);
        await op.step('release_node', async () => {
          await act.releaseRemovedNode.executeWithOptions({ summary: `${host} leaves the cluster` }, [
            { clusterId, nodeId },
          ]);
          await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
        });
        op.log(`node ${nodeId} (${host}) is ready again`);
        return {
          cluster_id: clusterId,
          node_id: nodeId,
          host,
          purged_osds: purged.purged,
          zapped_devices: purged.zapped,
          mons: planFacts.mons_after,
          mgrs: planFacts.mgrs_after,
        };
      });
    },

    compensate: async (o) => {
      if (purging) {
        // Past the point of no return (purge_osds failed or later): nothing to put back.
        return [
          `${host} is partly removed (its OSDs may be purged); DELETE /v1/clusters/${clusterId}/nodes/${nodeId} again finishes the removal`,
        ];
      }
      const problems = await undoAll(
        [
          ...[...weightSent].map((osdId) => ({
            what: `restore osd.${osdId} CRUSH weight to ${originals.get(osdId)} TiB (the recorded original)`,
            when: originals.has(osdId),
            run: () =>
              act.setCrushWeightUndo.executeWithOptions(
                { summary: `ceph osd crush reweight osd.${osdId} ${originals.get(osdId)} (compensation)` },
                [{ clusterId, osdId, weight: originals.get(osdId)! }],
              ),
          })),
          {
            what: `place mgrs back on ${(mgrsBefore ?? []).join(', ')}`,
            when: mgrsBefore !== null,
            run: () =>
              act.placeDaemonsAndWaitUndo.executeWithOptions({ summary: 'place mgrs back (compensation)' }, [
                { clusterId, type: 'mgr', hosts: mgrsBefore! },
              ]),
          },
          {
            what: `place mons back on ${(monsBefore ?? []).join(', ')}`,
            when: monsBefore !== null,
            run: () =>
              act.placeDaemonsAndWaitUndo.executeWithOptions({ summary: 'place mons back (compensation)' }, [
                { clusterId, type: 'mon', hosts: monsBefore! },
              ]),
          },
        ],
        o,
      );
      if (weightSent.size > 0) {
        try {
          await act.refreshClusterStateUndo.executeWithOptions({ summary: 'record cluster state (compensation)' }, [
            { clusterId },
          ]);
        } catch (err) {
          o.log(`could not record the cluster state after restoring the weights: ${describeFailure(err).message}`);
        }
      }
      return problems;
    },
  });
}
