import { FAILURE } from '../failures';
import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

/** What a reweight or drain is planned from (read by the readReweightFacts activity). JSON-safe. */
export interface ReweightFacts {
  clusterId: string;
  replicationFactor: number;
  failureDomain: string;
  /** The OSD as Ceph reports it now, or null when Ceph does not know it. */
  osd: { id: number; host: string; up: boolean; crush_weight: number; device_weight: number; pgs: number } | null;
  osds: { id: number; host: string; crush_weight: number; up: boolean }[];
  /** Other drains of this cluster that hold a drain slot (their OSDs empty out at the same time). */
  otherDrains: { operationId: string; osdId: number }[];
  /** `ceph osd ok-to-stop` for this drain's OSD and the other drains' together (drains only). */
  okToStop?: { ok: boolean; reason: string | null };
  /** PGs of the OSD CRUSH cannot place elsewhere already. */
  unplaceable: string[];
}

/** Failure types of reweights and drains (the operation's error.code). */
export const REWEIGHT_FAILURE = {
  osdNotFound: 'osd_not_found',
  /** Draining would leave fewer failure domains holding data than the pools keep copies. */
  insufficientFailureDomains: 'insufficient_failure_domains',
  /** CRUSH cannot place some of the OSD's PGs anywhere else (up set holds 2147483647): it would never end. */
  drainCannotFinish: 'drain_cannot_finish',
  /** The OSD holds no PGs but Ceph does not agree it is safe to destroy. */
  notSafeToDestroy: 'not_safe_to_destroy',
  /** No backfill progress for the configured bound. */
  backfillStalled: 'backfill_stalled',
} as const;

export interface ReweightParams {
  osdId: number;
  /** 0..1: the fraction of the device's full CRUSH weight (its size in TiB); 0 drains. */
  weight: number;
}

/** Ceph keeps CRUSH weights in 16.16 fixed point; five decimals is what it shows. */
export const roundWeight = (w: number): number => Math.round(w * 1e5) / 1e5;

/** The CRUSH weight (TiB) an API weight maps to: that fraction of the device's full weight. */
export function targetCrushWeight(weight: number, deviceWeight: number): number {
  return roundWeight(weight * deviceWeight);
}

/**
 * The reweight or drain as a plan: the gates, what it records, what it would move, what it would
 * refuse. The workflow's preflight refuses exactly what this refuses, and a dry run returns it.
 */
export function reweightPlan(facts: ReweightFacts, params: ReweightParams): OperationPlan<'osd.reweight'> {
  const drain = params.weight === 0;
  const osd = facts.osd;
  const name = `osd.${params.osdId}`;
  const refusals: PlanRefusal[] = [];
  if (!osd) {
    refusals.push({ code: REWEIGHT_FAILURE.osdNotFound, message: `Cluster ${facts.clusterId} has no ${name}.` });
    return {
      type: 'osd.reweight',
      would_run: false,
      refusals,
      steps: [],
      facts: { cluster_id: facts.clusterId, osd_id: params.osdId },
    };
  }
  const target = targetCrushWeight(params.weight, osd.device_weight);
  const drainSet = [...new Set([...facts.otherDrains.map((d) => d.osdId), params.osdId])].sort((a, b) => a - b);
  const drainList = drainSet.map((i) => `osd.${i}`).join(', ');

  // Failure domains (hosts) that would still hold data once every running drain and this one end.
  const remainingDomains = new Set(
    facts.osds.filter((o) => !drainSet.includes(o.id) && o.crush_weight > 0).map((o) => o.host),
  ).size;
  if (drain && remainingDomains < facts.replicationFactor) {
    refusals.push({
      code: REWEIGHT_FAILURE.insufficientFailureDomains,
      message:
        `Draining ${drainList} would leave PGs without enough failure domains: the pools keep ${facts.replicationFactor} copies ` +
        `on distinct ${facts.failureDomain}s and only ${remainingDomains} ${facts.failureDomain}(s) would still hold data; the drain could never finish.`,
    });
  }
  if (drain && facts.okToStop && !facts.okToStop.ok) {
    refusals.push({
      code: FAILURE.notOkToStop,
      message: `Ceph says ${drainList} (this drain and the ones running) are not ok to stop together: ${facts.okToStop.reason ?? 'PGs would become inactive'}.`,
    });
  }
  if (facts.unplaceable.length > 0) {
    refusals.push({
      code: REWEIGHT_FAILURE.drainCannotFinish,
      message: `CRUSH already cannot place PGs held by ${name} (${facts.unplaceable.slice(0, 5).join(', ')}): too few failure domains for their pools.`,
    });
  }

  const pgsToMove = drain
    ? osd.pgs
    : osd.crush_weight > 0
      ? Math.round(osd.pgs * Math.abs(1 - target / osd.crush_weight))
      : 0;
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Read ${name} (host ${osd.host}) and record its CRUSH weight ${osd.crush_weight} TiB, restored on cancel or failure.`,
      checks: drain
        ? [
            `ceph osd ok-to-stop ${drainSet.join(' ')}`,
            `failure domains left ≥ ${facts.replicationFactor}`,
            'no PG of the OSD already unplaceable',
          ]
        : ['no PG of the OSD already unplaceable'],
    },
    {
      name: 'set_crush_weight',
      description: `ceph osd crush reweight ${name} ${target} (from ${osd.crush_weight}; the device's full weight is ${roundWeight(osd.device_weight)} TiB), then read it back.`,
      checks: ['CRUSH weight reads back as set'],
    },
  ];
  if (drain) {
    steps.push(
      {
        name: 'wait_drain',
        description: `Watch ${name}'s PG count fall from ${osd.pgs} to 0 (progress = share moved); PG stats flushed before each count.`,
        checks: [
          'PG count of the OSD',
          'no PG whose CRUSH up set holds 2147483647 (would never finish)',
          'backfill keeps moving',
        ],
      },
      {
        name: 'safe_to_destroy',
        description: `ceph osd safe-to-destroy ${params.osdId}: its safe_to_destroy list must name the OSD.`,
        checks: ['safe_to_destroy[] includes the OSD'],
      },
    );
  } else {
    steps.push({
      name: 'wait_backfill',
      description: 'Wait for backfill to settle: every PG active+clean and pg_temp empty, stats flushed first.',
      checks: ['PGs active+clean', 'pg_temp empty', 'no PG whose CRUSH up set holds 2147483647'],
    });
  }
  steps.push({
    name: 'record_state',
    description: "Record the cluster's OSDs and health as Ceph reports them.",
    checks: [],
  });

  return {
    type: 'osd.reweight',
    would_run: refusals.length === 0,
    refusals,
    steps,
    facts: {
      cluster_id: facts.clusterId,
      osd_id: params.osdId,
      host: osd.host,
      drain,
      weight: params.weight,
      original_crush_weight: osd.crush_weight,
      original_weight: osd.device_weight > 0 ? roundWeight(osd.crush_weight / osd.device_weight) : 0,
      device_weight: roundWeight(osd.device_weight),
      target_crush_weight: target,
      pgs: osd.pgs,
      pgs_to_move: pgsToMove,
      running_drains: facts.otherDrains.map((d) => ({ operation_id: d.operationId, osd_id: d.osdId })),
      failure_domains_left: remainingDomains,
      ok_to_stop: facts.okToStop ?? null,
    },
  };
}
