import { ApplicationFailure } from '@temporalio/workflow';
import type { BackfillObservation } from '../activities/reweight.activities';
import { act } from './activity-proxies';
import type { OperationSnapshot, ReweightOsdInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { REWEIGHT_FAILURE, reweightPlan, roundWeight, targetCrushWeight } from './plans/reweight-osd.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Progress of a drain is the share of the OSD's PGs already moved, inside the wait step's share of
 * the steps: a drain of hours must not sit at one number.
 */
class ReweightTracker extends OperationTracker {
  private pgShare: number | null = null;

  get fraction(): number | null {
    return this.pgShare;
  }

  /** The share of the OSD's PGs moved: progress, and the estimate's anchor, move with it. */
  set fraction(v: number | null) {
    this.pgShare = v;
    this.noteProgress();
  }

  protected override inStepShare(): number {
    return this.pgShare ?? 0;
  }

  override finalSnapshot(): OperationSnapshot {
    const s = super.finalSnapshot();
    if (this.fraction === null || s.status === 'completed') return s;
    const applicable = s.steps.filter((x) => x.status !== 'skipped');
    const done = applicable.filter((x) => x.status === 'completed').length;
    const byFraction = Math.floor(((done + this.fraction) / applicable.length) * 100);
    return { ...s, progress: Math.min(99, Math.max(s.progress, byFraction)) };
  }
}

/**
 * Reweights one OSD (SPEC §3). `weight` is the fraction of the device's full CRUSH weight (its size
 * in TiB, as ceph-volume set it). Above 0: set the CRUSH weight and wait until backfill settled.
 * At 0 (drain): the original weight is recorded, set to 0, the OSD's PG count watched to 0 (the
 * progress), then `safe-to-destroy` must agree. A drain CRUSH can never complete (a PG of the OSD
 * with no place to go) fails with drain_cannot_finish instead of waiting forever. Failure and
 * cancel restore the original weight. Nothing here marks the OSD out or purges it.
 */
export async function reweightOsdWorkflow(input: ReweightOsdInput): Promise<Record<string, unknown>> {
  const drain = input.weight === 0;
  const op = new ReweightTracker(OPERATIONS['osd.reweight'].steps[drain ? 'drain' : 'reweight']);
  const { clusterId, osdId } = input;
  const name = `osd.${osdId}`;
  // What compensation needs: the weight before, and whether we may have changed it.
  let original: number | null = null;
  let weightSent = false;

  return runOperation(input.operationId, op, {
    run: async () => {
      let target = 0;
      let device = 0;
      let startPgs = 0;
      await op.step('preflight', async () => {
        const facts = await act.readReweightFacts.executeWithOptions({ summary: `read ${name} and the cluster` }, [
          { clusterId, osdId, drain, operationId: input.operationId },
        ]);
        // The same plan a dry run returns decides what is refused.
        const plan = reweightPlan(facts, { osdId, weight: input.weight });
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        const osd = facts.osd!;
        original = osd.crush_weight;
        device = osd.device_weight;
        target = targetCrushWeight(input.weight, device);
        startPgs = osd.pgs;
        op.log(
          `recorded the original CRUSH weight of ${name} (host ${osd.host}): ${original} TiB ` +
            `(${roundWeight(original / (device || 1))} of the device's ${roundWeight(device)} TiB); it is restored on cancel or failure`,
        );
        if (drain) {
          const others = facts.otherDrains.map((d) => `osd.${d.osdId} (${d.operationId})`);
          op.log(
            `ceph osd ok-to-stop ${[...facts.otherDrains.map((d) => d.osdId), osdId].join(' ')}: yes${others.length ? `; draining alongside ${others.join(', ')}` : ''}`,
          );
        }
      });

      await op.step('set_crush_weight', async () => {
        // Marked before the call: if Ceph applied it but the reply was lost, compensation still restores.
        weightSent = true;
        await act.setCrushWeight.executeWithOptions({ summary: `ceph osd crush reweight ${name} ${target}` }, [
          { clusterId, osdId, weight: target },
        ]);
        op.log(`ceph osd crush reweight ${name} ${target} (was ${original})`);
      });

      let last: BackfillObservation | null = null;
      await op.step(drain ? 'wait_drain' : 'wait_backfill', async () => {
        if (drain) op.fraction = 0;
        for (;;) {
          const o: BackfillObservation = await act.watchBackfill.executeWithOptions(
            {
              summary: drain
                ? `watch ${name} drain (${last?.pgs ?? startPgs} PGs left)`
                : `wait for backfill after reweighting ${name}`,
            },
            [{ clusterId, osdId, drain, lastPgs: last?.pgs ?? startPgs, lastClean: last?.pgs_active_clean ?? null }],
          );
          last = o;
          if (o.unplaceable.length > 0) {
            throw ApplicationFailure.nonRetryable(
              `${drain ? 'The drain' : 'The reweight'} of ${name} can never finish: CRUSH finds no place for PGs ${o.unplaceable.slice(0, 5).join(', ')} ` +
                `(their up set holds 2147483647: too few failure domains for their pools once ${name} weighs ${target}). ` +
                `They stay active+clean+remapped on ${name}; add capacity in another failure domain or lower the pools' size first.`,
              REWEIGHT_FAILURE.drainCannotFinish,
            );
          }
          if (drain) {
            op.fraction = startPgs > 0 ? Math.max(0, Math.min(1, (startPgs - o.pgs) / startPgs)) : 1;
            op.log(
              `${name} holds ${o.pgs} of ${startPgs} PGs (${Math.floor(op.fraction * 100)} % moved); ${o.pgs_active_clean}/${o.pgs_total} PGs active+clean`,
            );
          } else {
            op.log(
              `backfill: ${o.pgs_active_clean}/${o.pgs_total} PGs active+clean, ${o.pg_temp} pg_temp entries; ${name} holds ${o.pgs} PGs`,
            );
          }
          if (o.done) break;
        }
        op.fraction = null;
      });

      if (drain) {
        await op.step('safe_to_destroy', async () => {
          await act.assertSafeToDestroy.executeWithOptions({ summary: `ceph osd safe-to-destroy ${osdId}` }, [
            { clusterId, osdId },
          ]);
          op.log(
            `ceph osd safe-to-destroy ${osdId}: safe (holds 0 PGs); ${name} stays up and in at weight 0 until it is removed`,
          );
        });
      }

      await op.step('record_state', async () => {
        await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
      });
      const final = last as BackfillObservation | null;
      return {
        cluster_id: clusterId,
        osd_id: osdId,
        weight: input.weight,
        drained: drain,
        original_crush_weight: original,
        original_weight: roundWeight((original ?? 0) / (device || 1)),
        crush_weight: target,
        device_weight: roundWeight(device),
        pgs_before: startPgs,
        pgs_after: final?.pgs ?? startPgs,
        safe_to_destroy: drain,
      };
    },

    compensate: async (o) => {
      const problems = await undoAll(
        [
          {
            what: `restore ${name} CRUSH weight to ${original} TiB (the recorded original)`,
            when: weightSent && original !== null,
            run: () =>
              act.setCrushWeightUndo.executeWithOptions(
                { summary: `ceph osd crush reweight ${name} ${original} (compensation)` },
                [{ clusterId, osdId, weight: original! }],
              ),
          },
        ],
        o,
      );
      if (weightSent) {
        // Best effort: the recorded OSD rows should show the restored weight.
        try {
          await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state (compensation)' }, [
            { clusterId },
          ]);
        } catch (err) {
          o.log(`could not record the cluster state after restoring the weight: ${describeFailure(err).message}`);
        }
      }
      return problems;
    },
  });
}
