import { ApplicationFailure } from '@temporalio/activity';
import { getClusterById } from '../db/repositories/clusters.repository';
import { findClusterMember } from '../db/repositories/nodes.repository';
import { getOsd, setOsdCapacity } from '../db/repositories/osds.repository';
import type { ReplaceFacts } from '../lib/plans/replace-osd.planner';
import { createLedger, osdSubject } from './change-ledger';
import type { ActivityDeps } from './deps';
import { FAILURE, guarded } from './failures';
import { cephFor } from './targets';

const typed = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

/** Disk replacement (osd.replace): the facts it is planned from, destroy, recreate with the same id. */
export function createReplaceActivities(deps: ActivityDeps) {
  const ledger = createLedger(deps);
  return {
    /** Reads what a replacement is planned from: the OSD, its PGs, safe-to-destroy, the new device. */
    async readReplaceFacts(input: { clusterId: string; osdId: number; device: string | null }): Promise<ReplaceFacts> {
      return guarded(async () => {
        const cluster = await getClusterById(deps.db, input.clusterId);
        if (!cluster) throw typed(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
        const ceph = await cephFor(deps, input.clusterId);
        const osd = (await ceph.osds()).find((o) => o.id === input.osdId);
        const facts: ReplaceFacts = {
          clusterId: input.clusterId,
          osd: null,
          nodeId: null,
          safeToDestroy: { safe: false, reason: null },
          newDevice: null,
          unplaceable: [],
        };
        if (!osd) return facts;
        const placement = await ceph.pgPlacement([input.osdId]);
        const p = placement.osds[0]!;
        const std = await ceph.safeToDestroy([input.osdId]);
        const node = await findClusterMember(deps.db, input.clusterId, osd.host);
        facts.osd = {
          id: osd.id,
          host: osd.host,
          device: osd.device ?? null,
          up: osd.up,
          crush_weight: p.crush_weight,
          device_weight: p.device_weight,
          pgs: p.pgs,
          expected_crush_weight: (await getOsd(deps.db, input.clusterId, input.osdId))?.expected_crush_weight ?? null,
        };
        facts.nodeId = node?.id ?? null;
        facts.safeToDestroy = { safe: std.safe.includes(input.osdId), reason: std.reason };
        facts.unplaceable = placement.unplaceable;
        if (input.device !== null && input.device !== osd.device) {
          const d = (await ceph.devices(osd.host)).find((x) => x.device === input.device);
          facts.newDevice = d
            ? { device: d.device, available: d.available, rejected_reasons: d.rejected_reasons }
            : null;
        }
        return facts;
      });
    },

    /**
     * Stops the old daemon and `ceph osd destroy` keeping the id; read back. Idempotent. Recorded in
     * the change ledger first: an operation whose workflow is terminated before the recreate leaves
     * the OSD destroyed, and the settler says so (docs/operators.md).
     */
    async destroyOsd(input: { clusterId: string; host: string; osdId: number }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ledger.before('osd_destroyed', osdSubject(input.clusterId, input.osdId), {
          cluster_id: input.clusterId,
          osd_id: input.osdId,
          host: input.host,
        });
        await ceph.destroyOsd(input.host, input.osdId);
      });
    },

    /**
     * The recorded capacity of a replaced OSD follows its new device (a refresh keeps the first
     * capacity it saw: a drained OSD's CRUSH weight says nothing about its size). Idempotent.
     */
    async recordReplacedOsd(input: { clusterId: string; osdId: number }): Promise<{ capacity_gb: number }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const p = (await ceph.pgPlacement([input.osdId])).osds[0]!;
        const capacity = Math.round((p.device_weight * 2 ** 40) / 1e9);
        await setOsdCapacity(deps.db, input.clusterId, input.osdId, capacity);
        return { capacity_gb: capacity };
      });
    },

    /** Zaps the new device and recreates the destroyed OSD on it with the same id; read back. Idempotent. */
    async recreateOsd(input: { clusterId: string; host: string; device: string; osdId: number }): Promise<void> {
      return guarded(async () => {
        await (await cephFor(deps, input.clusterId)).recreateOsd(input.host, input.device, input.osdId);
        await ledger.undone(
          'osd_destroyed',
          osdSubject(input.clusterId, input.osdId),
          `recreated on ${input.host}:/dev/${input.device}`,
        );
      });
    },
  };
}
