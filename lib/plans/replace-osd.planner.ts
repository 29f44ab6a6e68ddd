import type { OperationPlan, PlanRefusal, PlanStep } from './plan';
import { REWEIGHT_FAILURE, roundWeight } from './reweight-osd.planner';

/** What a disk replacement is planned from (read by the readReplaceFacts activity). JSON-safe. */
export interface ReplaceFacts {
  clusterId: string;
  /** The OSD as Ceph reports it now, or null when Ceph does not know it. */
  osd: {
    id: number;
    host: string;
    /** The device Ceph lists for the OSD (kernel name), or null when it does not say. */
    device: string | null;
    up: boolean;
    crush_weight: number;
    device_weight: number;
    pgs: number;
    /**
     * The CRUSH weight NodeFoundry last left the OSD at (the osds table's expected weight), or null.
     * Absent in facts read before it was added (recorded histories).
     */
    expected_crush_weight?: number | null;
  } | null;
  /** The member node the OSD's host is (its inventory is refreshed at the end), or null. */
  nodeId: string | null;
  /** `ceph osd safe-to-destroy N` now. */
  safeToDestroy: { safe: boolean; reason: string | null };
  /** The new device as the orchestrator sees it on the OSD's host (null: not found there). */
  newDevice: { device: string; available: boolean; rejected_reasons: string[] } | null;
  /** PGs of the OSD CRUSH cannot place elsewhere already (a drain would never end). */
  unplaceable: string[];
}

export interface ReplaceParams {
  osdId: number;
  /** Kernel name of the new device on the OSD's host (`sdc`), or null: the same slot (same name). */
  device: string | null;
}

/** Failure types of disk replacements (the operation's error.code), beside REWEIGHT_FAILURE's. */
export const REPLACE_FAILURE = {
  osdNotFound: REWEIGHT_FAILURE.osdNotFound,
  /** The OSD is down and Ceph does not call it safe to destroy: its PGs have no complete copy elsewhere yet. */
  notSafeToDestroy: REWEIGHT_FAILURE.notSafeToDestroy,
  /** The new device is not on the host, or holds something (partitions, a filesystem, an OSD). */
  deviceNotAvailable: 'device_not_available',
  drainCannotFinish: REWEIGHT_FAILURE.drainCannotFinish,
} as const;

/** How the replacement empties the OSD first: drain (up with data), nothing (failed and safe, or empty). */
export type ReplaceMode = 'drain' | 'failed' | 'empty';

export function replaceMode(osd: NonNullable<ReplaceFacts['osd']>): ReplaceMode {
  if (!osd.up) return 'failed';
  return osd.pgs > 0 ? 'drain' : 'empty';
}

/**
 * The CRUSH weight the new OSD's fraction of its disk is taken from: the OSD's own, except for a down
 * OSD left at weight 0 (a replacement whose restore of the drained weight failed, or a settler's):
 * then the weight NodeFoundry last recorded for it, so the new OSD does not come back empty.
 */
export function replaceWeightBasis(osd: NonNullable<ReplaceFacts['osd']>): number {
  const expected = osd.expected_crush_weight ?? 0;
  return !osd.up && osd.crush_weight === 0 && expected > 0 ? expected : osd.crush_weight;
}

/** The device the new OSD goes on: the one asked for, or the OSD's own (same slot). */
export function replacementDevice(facts: ReplaceFacts, params: ReplaceParams): string | null {
  return params.device ?? facts.osd?.device ?? null;
}

/**
 * The replacement as a plan: how the OSD is emptied (drain when up with data; a failed OSD must
 * already be safe to destroy), destroy keeping the id, zap and recreate on the new device, the
 * weight restored, backfill to clean, inventory refreshed. The workflow's preflight refuses
 * exactly what this refuses, and a dry run returns it.
 */
export function replacePlan(facts: ReplaceFacts, params: ReplaceParams): OperationPlan<'osd.replace'> {
  const osd = facts.osd;
  const name = `osd.${params.osdId}`;
  const refusals: PlanRefusal[] = [];
  if (!osd) {
    refusals.push({ code: REPLACE_FAILURE.osdNotFound, message: `Cluster ${facts.clusterId} has no ${name}.` });
    return {
      type: 'osd.replace',
      would_run: false,
      refusals,
      steps: [],
      facts: { cluster_id: facts.clusterId, osd_id: params.osdId },
    };
  }
  const mode = replaceMode(osd);
  const device = replacementDevice(facts, params);
  const sameSlot = params.device === null || params.device === osd.device;
  if (!device) {
    refusals.push({
      code: REPLACE_FAILURE.deviceNotAvailable,
      message: `Ceph does not say which device ${name} is on; name the new device ("device": "sdX").`,
    });
  } else if (!sameSlot) {
    if (!facts.newDevice) {
      refusals.push({
        code: REPLACE_FAILURE.deviceNotAvailable,
        message: `Host ${osd.host} has no device /dev/${device}.`,
      });
    } else if (!facts.newDevice.available) {
      refusals.push({
        code: REPLACE_FAILURE.deviceNotAvailable,
        message: `/dev/${device} on ${osd.host} is not available for an OSD: ${facts.newDevice.rejected_reasons.join('; ') || 'in use'}. Nothing is zapped that the orchestrator does not call available.`,
      });
    }
  }
  if (mode === 'failed' && !facts.safeToDestroy.safe) {
    refusals.push({
      code: REPLACE_FAILURE.notSafeToDestroy,
      message:
        `${name} is down and Ceph does not call it safe to destroy (${facts.safeToDestroy.reason ?? 'no reason given'}): ` +
        `some of its PGs have no complete copy elsewhere yet. Wait until it is marked out and recovery ends ` +
        `(PGs active+clean), or bring the disk back; nothing was changed.`,
    });
  }
  if (mode === 'drain' && facts.unplaceable.length > 0) {
    refusals.push({
      code: REPLACE_FAILURE.drainCannotFinish,
      message: `CRUSH already cannot place PGs held by ${name} (${facts.unplaceable.slice(0, 5).join(', ')}): the drain before the replacement could never finish.`,
    });
  }

  const basis = replaceWeightBasis(osd);
  const fraction = osd.device_weight > 0 ? roundWeight(basis / osd.device_weight) : 1;
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description:
        `Read ${name} (host ${osd.host}, ${osd.up ? 'up' : 'down'}, ${osd.pgs} PGs) and record its CRUSH weight ${osd.crush_weight} TiB (${fraction} of its device` +
        (basis !== osd.crush_weight ? `, from the ${basis} TiB NodeFoundry last recorded for it` : '') +
        ').',
      checks:
        mode === 'failed'
          ? ['ceph osd safe-to-destroy names the OSD', 'the new device is available']
          : ['no PG of the OSD already unplaceable', 'the new device is available'],
    },
  ];
  if (mode === 'drain') {
    steps.push(
      {
        name: 'drain',
        description: `ceph osd crush reweight ${name} 0, then watch its ${osd.pgs} PGs move away (restored on cancel or failure).`,
        checks: ['PG count of the OSD', 'backfill keeps moving'],
      },
      {
        name: 'safe_to_destroy',
        description: `ceph osd safe-to-destroy ${params.osdId} must name the OSD.`,
        checks: ['safe_to_destroy[] includes the OSD'],
      },
    );
  }
  steps.push(
    {
      name: 'destroy',
      description: `Stop and disable the old daemon, then ceph osd destroy ${params.osdId} --yes-i-really-mean-it: the id and its CRUSH position are kept.`,
      checks: ['the OSD map shows the OSD destroyed'],
    },
    {
      name: 'recreate',
      description: `Zap /dev/${device ?? '?'} on ${osd.host} and create ${name} on it with the same id (ceph-volume … --osd-id ${params.osdId}).`,
      checks: ['ceph osd metadata names the host and device'],
    },
    {
      name: 'restore_weight',
      description: `Set the CRUSH weight back to ${fraction} of the new device's full weight.`,
      checks: ['CRUSH weight reads back as set'],
    },
    {
      name: 'wait_backfill',
      description: 'Wait for backfill onto the new disk: every PG active+clean and pg_temp empty.',
      checks: ['PGs active+clean', 'pg_temp empty'],
    },
    {
      name: 'refresh_inventory',
      description: `Record the cluster's OSDs and re-read ${osd.host}'s drives (the new disk and its SMART state).`,
      checks: [],
    },
  );
  return {
    type: 'osd.replace',
    would_run: refusals.length === 0,
    refusals,
    steps,
    facts: {
      cluster_id: facts.clusterId,
      osd_id: params.osdId,
      host: osd.host,
      node_id: facts.nodeId,
      mode,
      old_device: osd.device,
      new_device: device,
      same_slot: sameSlot,
      up: osd.up,
      pgs: osd.pgs,
      original_crush_weight: osd.crush_weight,
      original_weight: fraction,
      safe_to_destroy: facts.safeToDestroy,
    },
  };
}
