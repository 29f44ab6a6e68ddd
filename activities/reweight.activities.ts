import { ApplicationFailure } from '@temporalio/activity';
import { getClusterById } from '../db/repositories/clusters.repository';
import { openDrainsOfCluster } from '../db/repositories/operations.repository';
import type { CephPgPlacement } from '../drivers/types';
import type { ActivityDeps } from './deps';
import type { ReweightFacts } from '../lib/plans/reweight-osd.planner';
import { FAILURE, guarded, pollUntil } from './failures';
import { cephFor } from './targets';
import { createLedger, currentOperation, osdSubject } from './change-ledger';
import { setExpectedWeight } from '../db/repositories/osd-weights.repository';

export interface BackfillObservation {
  pgs: number;
  pgs_total: number;
  pgs_active_clean: number;
  pg_temp: number;
  crush_weight: number;
  unplaceable: string[];
  states: { state: string; count: number }[];
  done: boolean;
}

const typed = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

export function createReweightActivities(deps: ActivityDeps) {
  const ledger = createLedger(deps);
  /** Reweight operations of the cluster that are running or about to (they hold their locks). */
  async function runningDrains(
    clusterId: string,
    except: string | null,
  ): Promise<{ operationId: string; osdId: number }[]> {
    const rows = await openDrainsOfCluster(deps.db, clusterId, except);
    return rows.filter((r) => r.osd_id !== null).map((r) => ({ operationId: r.id, osdId: r.osd_id! }));
  }

  function observe(p: CephPgPlacement, osdId: number, drain: boolean): BackfillObservation {
    const o = p.osds.find((x) => x.osd_id === osdId)!;
    const settled = p.pgs_active_clean === p.pgs_total && p.pg_temp === 0;
    return {
      pgs: o.pgs,
      pgs_total: p.pgs_total,
      pgs_active_clean: p.pgs_active_clean,
      pg_temp: p.pg_temp,
      crush_weight: o.crush_weight,
      unplaceable: p.unplaceable,
      states: p.states,
      // A drain is done when the OSD holds nothing (other drains may still be moving data);
      // a reweight when the whole cluster settled.
      done: drain ? o.pgs === 0 : settled,
    };
  }

  return {
    /** Reads everything a reweight is planned from: cluster, OSDs, the OSD's PGs, running drains, ok-to-stop. */
    async readReweightFacts(input: {
      clusterId: string;
      osdId: number;
      drain: boolean;
      operationId: string | null;
    }): Promise<ReweightFacts> {
      return guarded(async () => {
        const cluster = await getClusterById(deps.db, input.clusterId);
        if (!cluster) throw typed(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
        const ceph = await cephFor(deps, input.clusterId);
        const osds = await ceph.osds();
        const otherDrains = await runningDrains(input.clusterId, input.operationId);
        const facts: ReweightFacts = {
          clusterId: input.clusterId,
          replicationFactor: cluster.replication_factor,
          failureDomain: cluster.failure_domain,
          osd: null,
          osds: osds.map((o) => ({ id: o.id, host: o.host, crush_weight: o.crush_weight, up: o.up })),
          otherDrains,
          unplaceable: [],
        };
        const osd = osds.find((o) => o.id === input.osdId);
        if (!osd) return facts;
        const placement = await ceph.pgPlacement([input.osdId]);
        const p = placement.osds[0]!;
        facts.osd = {
          id: osd.id,
          host: osd.host,
          up: osd.up,
          crush_weight: p.crush_weight,
          device_weight: p.device_weight,
          pgs: p.pgs,
        };
        facts.unplaceable = placement.unplaceable;
        if (input.drain) {
          const set = [...new Set([...otherDrains.map((d) => d.osdId), input.osdId])].filter((id) =>
            osds.some((o) => o.id === id),
          );
          facts.okToStop = await ceph.okToStop(set);
        }
        return facts;
      });
    },

    /** `ceph osd crush reweight osd.N w` (TiB), read back by the driver. Idempotent. */
    async setCrushWeight(input: {
      clusterId: string;
      osdId: number;
      weight: number;
      /** Where the operation leaves the OSD if it completes, when that is not this weight (an expansion's steps); default `weight`. */
      target?: number;
    }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const subject = osdSubject(input.clusterId, input.osdId);
        const recorded = await ledger.open('crush_weight', subject);
        const original = typeof recorded?.details.original === 'number' ? recorded.details.original : null;
        let already = false;
        if (!recorded) {
          // The weight before this operation touched it, kept durably: a terminated drain is restored from it.
          const now = (await ceph.osds()).find((o) => o.id === input.osdId)?.crush_weight;
          already = now !== undefined && Math.abs(now - input.weight) <= 1e-6;
          if (now !== undefined && !already) {
            await ledger.before('crush_weight', subject, {
              cluster_id: input.clusterId,
              osd_id: input.osdId,
              original: now,
              // What the OSD is left at if the operation completes (keepTargetWeights).
              target: input.target ?? input.weight,
            });
          }
        }
        await ceph.crushReweight(input.osdId, input.weight);
        const restored = original !== null && Math.abs(original - input.weight) <= 1e-6;
        // A recorded original put back (compensation; the settler, which runs outside any
        // operation) is again what NodeFoundry left the OSD at, and so is a weight the OSD already
        // had (a reweight that adopts a weight set by hand: whatever its end, the OSD stays there).
        // A forward change is recorded only when its operation completes (finishOperation): a
        // drain cut short must not make 0 expected.
        if (restored || already || !(await currentOperation(deps))) {
          await setExpectedWeight(deps.db, input.clusterId, input.osdId, input.weight);
        }
        if (restored) await ledger.undone('crush_weight', subject);
      });
    },

    /**
     * Watches backfill after a weight change until it is done, until CRUSH is seen unable to place
     * a PG of the OSD (the drain that never ends), or until something moved and ten poll intervals
     * passed (so the workflow can show progress). No movement for the Ceph wait bound is a stall.
     */
    async watchBackfill(input: {
      clusterId: string;
      osdId: number;
      drain: boolean;
      lastPgs: number | null;
      lastClean: number | null;
    }): Promise<BackfillObservation> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      const started = Date.now();
      // Each report is a few history events: ten polls apart keeps a drain of hours well inside the limits.
      const reportAfterMs = deps.config.pollIntervalMs * 10;
      let last: BackfillObservation | null = null;
      let movedAt = Date.now();
      let prevKey = '';
      const result = await pollUntil<BackfillObservation | 'stalled'>({
        intervalMs: deps.config.pollIntervalMs,
        // The stall bound below ends a wait that sees nothing move; this only backs it up.
        timeoutMs: deps.config.waits.cephMs * 2,
        timeoutType: FAILURE.pgsNotClean,
        what: `backfill of osd.${input.osdId}`,
        describe: () => last && { pgs: last.pgs, clean: last.pgs_active_clean, pg_temp: last.pg_temp },
        probe: async () => {
          const o = observe(await ceph.pgPlacement([input.osdId]), input.osdId, input.drain);
          last = o;
          if (o.done || o.unplaceable.length > 0) return o;
          const key = `${o.pgs}/${o.pgs_active_clean}/${o.pg_temp}`;
          if (key !== prevKey) {
            prevKey = key;
            movedAt = Date.now();
          }
          const progressed = o.pgs !== input.lastPgs || o.pgs_active_clean !== input.lastClean;
          if (progressed && Date.now() - started >= reportAfterMs) return o;
          if (Date.now() - movedAt > deps.config.waits.cephMs) return 'stalled';
          return undefined;
        },
      });
      if (result === 'stalled') {
        const o = last!;
        throw typed(
          'backfill_stalled',
          `No backfill progress for ${Math.round(deps.config.waits.cephMs / 1000)} s: osd.${input.osdId} holds ${o.pgs} PGs, ${o.pgs_active_clean}/${o.pgs_total} PGs active+clean, ${o.pg_temp} pg_temp entries.`,
        );
      }
      return result;
    },

    /** `ceph osd safe-to-destroy` must name the OSD; polled briefly (the answer follows the PG stats). */
    async assertSafeToDestroy(input: { clusterId: string; osdId: number }): Promise<void> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      let reason: string | null = null;
      try {
        await pollUntil({
          intervalMs: deps.config.pollIntervalMs,
          timeoutMs: Math.min(deps.config.waits.cephMs, 120_000),
          timeoutType: FAILURE.pgsNotClean,
          what: `ceph osd safe-to-destroy ${input.osdId}`,
          describe: () => reason,
          probe: async () => {
            const r = await ceph.safeToDestroy([input.osdId]);
            reason = r.reason;
            return r.safe.includes(input.osdId) ? true : undefined;
          },
        });
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === FAILURE.pgsNotClean) {
          throw typed(
            'not_safe_to_destroy',
            `osd.${input.osdId} holds no PGs but Ceph does not call it safe to destroy: ${reason ?? 'no reason given'}.`,
          );
        }
        throw err;
      }
    },
  };
}
