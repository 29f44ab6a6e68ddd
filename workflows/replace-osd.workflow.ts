import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { BackfillObservation } from '../activities/reweight.activities';
import { act } from './activity-proxies';
import type { ReplaceOsdInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { REWEIGHT_FAILURE, roundWeight, targetCrushWeight } from './plans/reweight-osd.plan';
import {
  replaceMode,
  replacementDevice,
  replacePlan,
  replaceWeightBasis,
  type ReplaceMode,
} from './plans/replace-osd.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Replaces the disk of one OSD keeping its id (SPEC §3 day-2, issue 13 item 2; docs/operators.md
 * "Replacing a failed disk"). Preflight plans with the dry run's planner and refuses what it refuses.
 * An OSD that is up and holds data is drained first (CRUSH weight 0, PG count watched to 0,
 * safe-to-destroy); a failed (down) OSD must already be safe to destroy. Then the old daemon is
 * retired and `ceph osd destroy` keeps the id, the new device is zapped and the OSD recreated on it
 * with the same id, its weight restored (the same fraction of the new device), backfill watched to
 * clean, and the cluster's OSDs and the node's drives re-read.
 *
 * Cancel or failure before the destroy: the recorded CRUSH weight is restored (the drain undone),
 * nothing else changed. After the destroy the old disk is gone for good: the weight is still
 * restored, and the operation says the OSD is left destroyed (id kept) and how to finish (run the
 * replacement again: a destroyed OSD skips straight to recreate). Once recreated with its weight set
 * for the new disk, a cancel keeps that weight and says backfill goes on by itself. A workflow
 * terminated after the destroy is settled from the change ledger (`osd_destroyed`, closed by the
 * recreate): docs/operators.md "Replacing a failed disk".
 */
export async function replaceOsdWorkflow(input: ReplaceOsdInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['osd.replace'].steps);
  const { clusterId, osdId } = input;
  const name = `osd.${osdId}`;
  let original: number | null = null;
  let weightSent = false;
  let destroySent = false;
  let recreated = false;
  /** The new OSD's weight was set for its new disk (restore_weight done): a cancel from here keeps it. */
  let weightRestored = false;
  let host = '';
  let device = '';
  let target = 0;

  return runOperation(input.operationId, op, {
    run: async () => {
      let nodeId: string | null = null;
      let fraction = 1;
      let mode = 'failed' as ReplaceMode;
      let startPgs = 0;
      await op.step('preflight', async () => {
        const facts = await act.readReplaceFacts.executeWithOptions({ summary: `read ${name} and the new device` }, [
          { clusterId, osdId, device: input.device },
        ]);
        const plan = replacePlan(facts, { osdId, device: input.device });
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        const osd = facts.osd!;
        host = osd.host;
        device = replacementDevice(facts, { osdId, device: input.device })!;
        nodeId = facts.nodeId;
        mode = replaceMode(osd);
        original = osd.crush_weight;
        startPgs = osd.pgs;
        // A down OSD left at weight 0 takes its fraction from its recorded expected weight.
        const basis = patched('replace-osd-zero-weight-basis') ? replaceWeightBasis(osd) : osd.crush_weight;
        fraction = osd.device_weight > 0 ? Math.min(1, roundWeight(basis / osd.device_weight)) : 1;
        if (basis !== osd.crush_weight)
          op.log(
            `${name} is at CRUSH weight 0; the new OSD gets the fraction of the ${basis} TiB NodeFoundry last recorded for it`,
          );
        op.log(
          `${name} on ${host}${osd.device ? `:/dev/${osd.device}` : ''} is ${osd.up ? 'up' : 'down'} with ${osd.pgs} PGs; ` +
            `recorded its CRUSH weight ${original} TiB (${fraction} of its device); the new OSD goes on /dev/${device}` +
            (mode === 'failed'
              ? `; ceph osd safe-to-destroy ${osdId}: safe`
              : mode === 'drain'
                ? '; it is drained first'
                : '; it holds no PGs, no drain needed'),
        );
      });

      if (mode === 'drain') {
        await op.step('drain', async () => {
          weightSent = true;
          await act.setCrushWeight.executeWithOptions({ summary: `ceph osd crush reweight ${name} 0` }, [
            { clusterId, osdId, weight: 0 },
          ]);
          op.log(`ceph osd crush reweight ${name} 0 (was ${original})`);
          let last: BackfillObservation | null = null;
          for (;;) {
            const o: BackfillObservation = await act.watchBackfill.executeWithOptions(
              { summary: `watch ${name} drain (${last?.pgs ?? startPgs} PGs left)` },
              [
                {
                  clusterId,
                  osdId,
                  drain: true,
                  lastPgs: last?.pgs ?? startPgs,
                  lastClean: last?.pgs_active_clean ?? null,
                },
              ],
            );
            last = o;
            if (o.unplaceable.length > 0) {
              throw ApplicationFailure.nonRetryable(
                `The drain of ${name} before its replacement can never finish: CRUSH finds no place for PGs ${o.unplaceable.slice(0, 5).join(', ')}.`,
                REWEIGHT_FAILURE.drainCannotFinish,
              );
            }
            op.log(`${name} holds ${o.pgs} of ${startPgs} PGs; ${o.pgs_active_clean}/${o.pgs_total} PGs active+clean`);
            if (o.done) break;
          }
        });
        await op.step('safe_to_destroy', async () => {
          await act.assertSafeToDestroy.executeWithOptions({ summary: `ceph osd safe-to-destroy ${osdId}` }, [
            { clusterId, osdId },
          ]);
          op.log(`ceph osd safe-to-destroy ${osdId}: safe (holds 0 PGs)`);
        });
      } else {
        const why = mode === 'failed' ? `${name} is down and already safe to destroy` : `${name} holds no PGs`;
        op.skip('drain', why);
        op.skip('safe_to_destroy', why);
      }

      await op.step('destroy', async () => {
        destroySent = true;
        await act.destroyOsd.executeWithOptions({ summary: `ceph osd destroy ${osdId} (id kept)` }, [
          { clusterId, host, osdId },
        ]);
        op.log(
          `old daemon of ${name} stopped and disabled on ${host}; ceph osd destroy ${osdId}: destroyed, id and CRUSH position kept`,
        );
      });

      await op.step('recreate', async () => {
        await act.recreateOsd.executeWithOptions({ summary: `zap ${host}:/dev/${device}, recreate ${name}` }, [
          { clusterId, host, device, osdId },
        ]);
        recreated = true;
        op.log(`${host}:/dev/${device} zapped; ${name} recreated on it with the same id and started`);
      });

      target = original ?? 0;
      await op.step('restore_weight', async () => {
        const facts = await act.readReweightFacts.executeWithOptions({ summary: `read ${name}` }, [
          { clusterId, osdId, drain: false, operationId: input.operationId },
        ]);
        const deviceWeight = facts.osd?.device_weight ?? 0;
        target = deviceWeight > 0 ? targetCrushWeight(fraction, deviceWeight) : (original ?? 0);
        let now = facts.osd?.crush_weight ?? -1;
        if (weightSent && original !== null) {
          // The drain's original first (closes its record), then the new disk's size if it differs.
          await act.setCrushWeight.executeWithOptions({ summary: `ceph osd crush reweight ${name} ${original}` }, [
            { clusterId, osdId, weight: original },
          ]);
          now = original;
        }
        if (Math.abs(target - now) > 1e-6) {
          await act.setCrushWeight.executeWithOptions({ summary: `ceph osd crush reweight ${name} ${target}` }, [
            { clusterId, osdId, weight: target },
          ]);
        }
        op.log(
          `CRUSH weight of ${name}: ${target} TiB (${fraction} of the new device's ${roundWeight(deviceWeight)} TiB)`,
        );
        weightRestored = true;
      });

      await op.step('wait_backfill', async () => {
        let last: BackfillObservation | null = null;
        for (;;) {
          const o: BackfillObservation = await act.watchBackfill.executeWithOptions(
            { summary: `wait for backfill onto ${name}` },
            [{ clusterId, osdId, drain: false, lastPgs: last?.pgs ?? 0, lastClean: last?.pgs_active_clean ?? null }],
          );
          last = o;
          op.log(
            `backfill: ${o.pgs_active_clean}/${o.pgs_total} PGs active+clean, ${o.pg_temp} pg_temp entries; ${name} holds ${o.pgs} PGs`,
          );
          if (o.done) break;
        }
      });

      await op.step('refresh_inventory', async () => {
        await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
        const rec = await act.recordReplacedOsd.executeWithOptions({ summary: `record ${name}'s new capacity` }, [
          { clusterId, osdId },
        ]);
        op.log(`${name} recorded on ${host}:/dev/${device}, ${rec.capacity_gb} GB`);
        if (nodeId) {
          await act.inventoryNode.executeWithOptions({ summary: `re-read the drives of ${host}` }, [{ nodeId }]);
          op.log(`drives of ${host} re-read (the new disk and its SMART state)`);
        }
      });

      return {
        cluster_id: clusterId,
        osd_id: osdId,
        host,
        device,
        mode,
        original_crush_weight: original,
        crush_weight: target,
        pgs_before: startPgs,
      };
    },

    compensate: async (o) => {
      // Once the OSD is recreated and its weight set for the new disk, the recorded original (the
      // old disk's weight) no longer applies: the weight stays (replace-osd-keeps-new-weight).
      const keepNewWeight = weightRestored && patched('replace-osd-keeps-new-weight');
      const problems = await undoAll(
        [
          {
            what: `restore ${name} CRUSH weight to ${original} TiB (the recorded original)`,
            when: weightSent && original !== null && !keepNewWeight,
            run: () =>
              act.setCrushWeightUndo.executeWithOptions(
                { summary: `ceph osd crush reweight ${name} ${original} (compensation)` },
                [{ clusterId, osdId, weight: original! }],
              ),
          },
        ],
        o,
      );
      if (destroySent && !recreated) {
        // The old disk cannot be undestroyed: say what is left and how to finish.
        problems.push(
          `${name} is left destroyed (id and CRUSH position kept, down and out, no data on it): ` +
            `POST /v1/clusters/${clusterId}/osds/${osdId}/replace again to recreate it on a working device ` +
            `(it skips to recreate), or remove it for good with ceph osd purge ${osdId} --yes-i-really-mean-it`,
        );
      } else if (recreated) {
        // Nothing to undo and nothing broken: the replacement is done but for the wait.
        const weight = keepNewWeight
          ? `started, at CRUSH weight ${target} TiB`
          : weightSent && original !== null
            ? `started, at its recorded CRUSH weight ${original} TiB (the old disk's; POST /v1/clusters/${clusterId}/osds/${osdId}/reweight to set another)`
            : 'started';
        problems.push(
          `${name} was recreated on ${host}:/dev/${device} with the same id and ${weight} ` +
            `(the old disk is gone, this cannot be undone); backfill onto it goes on by itself (watch ceph -s until ` +
            `every PG is active+clean); the node's drives were not re-read (GET /v1/nodes/{id} shows them after the next inventory)`,
        );
      }
      if (weightSent || destroySent) {
        try {
          await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state (compensation)' }, [
            { clusterId },
          ]);
        } catch (err) {
          o.log(`could not record the cluster state: ${describeFailure(err).message}`);
        }
      }
      return problems;
    },
  });
}
