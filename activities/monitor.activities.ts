import { maintenanceHosts } from '../db/repositories/maintenance.repository';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Transaction } from 'kysely';
import type { ClusterStatus, Database } from '../db/database';
import { getClusterById } from '../db/repositories/clusters.repository';
import { closeChanges } from '../db/repositories/operation-changes.repository';
import { recordEvent } from '../db/repositories/events.repository';
import {
  openNooutEntries,
  recordMonitorRound,
  type OpenNooutEntry,
  runningOwnership,
  type MonitorChange,
  type MonitorReading,
  type RecordedCheck,
} from '../db/repositories/cluster-health.repository';
import { DriverError } from '../drivers/types';
import { FAILURE } from '../lib/failures';
import { hostSubject } from './change-ledger';
import type { ActivityDeps } from './deps';
import { cephFor } from './targets';
import { probeMembers, recordNodeProbes } from './node-probes';
import { repairWeightDrift, weightDriftCheck, weightDrifts } from './monitor-weight-drift';
import { expectedWeights } from '../db/repositories/osd-weights.repository';

/** NodeFoundry's own drift checks (docs/api.md §Cluster health), raised and cleared like Ceph's. */
export const NF_CHECK = {
  /** A host carries noout and no running operation of this cluster recorded setting it. */
  nooutOrphaned: 'NF_NOOUT_ORPHANED',
  /** Cluster-wide flags (noout, norebalance, …) set while no operation of this cluster runs. */
  flagsOrphaned: 'NF_FLAGS_ORPHANED',
  /** `noautoscale` in effect while no upgrade of this cluster runs. */
  autoscaleFrozenOrphaned: 'NF_AUTOSCALE_FROZEN_ORPHANED',
} as const;

/** Cluster-wide OSD map flags set on purpose (routine feature flags are already left out by the drivers). */
const ACTION_FLAGS = [
  'noout',
  'noin',
  'noup',
  'nodown',
  'norebalance',
  'nobackfill',
  'norecover',
  'noscrub',
  'nodeep-scrub',
  'pause',
];

/** Statuses the monitor owns: Ceph's health or UNREACHABLE. CREATING/IMPORTING/DELETING/ERROR belong to operations. */
const MONITORED: readonly ClusterStatus[] = ['HEALTH_OK', 'HEALTH_WARN', 'HEALTH_ERR', 'UNREACHABLE'];

export interface MonitorRoundResult {
  /** gone: the cluster row is deleted (the monitor ends); skipped: an operation owns the status (creating, deleting, error). */
  state: 'gone' | 'skipped' | 'observed' | 'unreachable';
  status: ClusterStatus | null;
  raised: string[];
  cleared: string[];
  /** Drift repaired this round (one line each). */
  repaired?: string[];
  /** Members that went online ↔ offline this round (one line each; activities/node-probes.ts). */
  nodes?: string[];
}

/**
 * The events of a monitor round, written in the round's transaction (the outbox): one
 * `cluster.health_check_raised` per check that appeared, one `cluster.health_check_cleared` per
 * check that went (with `repaired` when the monitor itself undid NodeFoundry's leftover this round).
 * `cluster.status_changed` is written by the clusters table's trigger when the status moves.
 */
export async function recordMonitorEvents(trx: Transaction<Database>, change: MonitorChange): Promise<void> {
  const base = { accountId: change.accountId, environment: change.environment, clusterId: change.clusterId };
  for (const c of change.raised) {
    await recordEvent(trx, {
      ...base,
      type: 'cluster.health_check_raised',
      data: { code: c.code, source: c.source, severity: c.severity, summary: c.summary },
    });
  }
  for (const code of change.cleared) {
    await recordEvent(trx, { ...base, type: 'cluster.health_check_cleared', data: { code } });
  }
  if (change.repaired.length > 0) {
    // A repair clears a drift check whether or not an earlier round raised it: say what was undone.
    await recordEvent(trx, {
      ...base,
      type: 'cluster.health_check_cleared',
      data: { code: 'NF_DRIFT_REPAIRED', repaired: change.repaired },
    });
  }
}

/** The admin node (or its Ceph) did not answer: SSH unreachable, Ceph unavailable, or any transient driver failure. */
function isUnreachable(err: unknown): boolean {
  return (
    err instanceof DriverError &&
    (err.type === FAILURE.sshUnreachable || err.type === FAILURE.cephUnavailable || err.retryable)
  );
}

/** NodeFoundry's drift checks: noout, flags and the autoscale freeze that no running operation owns. */
export function driftChecks(
  clusterId: string,
  seen: { flags: string[]; nooutHosts: string[]; autoscaleFrozen: boolean },
  owner: { operations: { type: string }[]; openNooutSubjects: string[]; maintenanceHosts?: string[] },
): RecordedCheck[] {
  // A host in maintenance mode (issue 13 #1) carries noout on purpose: maintenance owns it, no workflow runs.
  const owned = new Set([
    ...owner.openNooutSubjects,
    ...(owner.maintenanceHosts ?? []).map((h) => hostSubject(clusterId, h)),
  ]);
  const checks: RecordedCheck[] = [];
  const orphans = seen.nooutHosts.filter((h) => !owned.has(hostSubject(clusterId, h))).sort();
  if (orphans.length) {
    checks.push({
      code: NF_CHECK.nooutOrphaned,
      source: 'nodefoundry',
      severity: 'HEALTH_WARN',
      summary: `noout set on ${orphans.join(', ')} with no running operation that set it`,
    });
  }
  const flags = seen.flags.filter((f) => ACTION_FLAGS.includes(f));
  if (flags.length && owner.operations.length === 0) {
    checks.push({
      code: NF_CHECK.flagsOrphaned,
      source: 'nodefoundry',
      severity: 'HEALTH_WARN',
      summary: `cluster flag(s) ${flags.join(', ')} set with no running operation`,
    });
  }
  if (seen.autoscaleFrozen && !owner.operations.some((o) => o.type === 'cluster.upgrade')) {
    checks.push({
      code: NF_CHECK.autoscaleFrozenOrphaned,
      source: 'nodefoundry',
      severity: 'HEALTH_WARN',
      summary: 'PG autoscaling frozen (noautoscale) with no running upgrade',
    });
  }
  return checks;
}

const CLOSED_OPERATION = ['completed', 'failed', 'cancelled'];
const TEMPORAL_CALL_MS = 10_000;

function clientOf(): Client | null {
  try {
    return Context.current().client;
  } catch {
    return null;
  }
}

/**
 * Whether the operation that recorded a noout may still own it. Certainly not when its row is
 * closed, or when Temporal says its workflow closed (terminated from the Web UI, timed out). In
 * doubt (no workflow yet, Temporal not answering) it may: the monitor then only reports.
 */
async function mayStillOwn(e: OpenNooutEntry, client: Client | null): Promise<boolean> {
  if (CLOSED_OPERATION.includes(e.operationStatus)) return false;
  if (!client) return true;
  try {
    const d = await client.connection.withDeadline(Date.now() + TEMPORAL_CALL_MS, () =>
      client.workflow.getHandle(e.workflowId).describe(),
    );
    return d.status.name === 'RUNNING';
  } catch {
    // Not found (a pending operation whose workflow is not started yet), or Temporal not answering: in doubt.
    return true;
  }
}

export function createMonitorActivities(deps: ActivityDeps) {
  const { db, logger } = deps;

  /**
   * Drift repair (docs/operators.md §Drift repair): a per-host noout (or the autoscale freeze) that
   * the change ledger shows an operation set and never undid, where that operation certainly no
   * longer runs, is unset and its ledger entry closed (undone, with a note); one with no ledger entry
   * (set by hand) is only reported. Answers the repairs made and the noout subjects a running operation owns.
   */
  async function repairNoout(
    clusterId: string,
    ceph: Awaited<ReturnType<typeof cephFor>>,
    nooutHosts: string[],
    autoscaleFrozen: boolean,
    inMaintenance: string[] = [],
  ): Promise<{ repaired: string[]; ownedSubjects: string[] }> {
    const entries = await openNooutEntries(db, clusterId);
    const client = clientOf();
    const repaired: string[] = [];
    const ownedSubjects: string[] = [];
    for (const host of nooutHosts) {
      const subject = hostSubject(clusterId, host);
      // Maintenance mode owns its host's noout until the exit unsets it: never repaired.
      if (inMaintenance.includes(host)) {
        ownedSubjects.push(subject);
        continue;
      }
      const mine = entries.filter((e) => e.kind === 'noout_host' && e.subject === subject);
      if (mine.length === 0) continue;
      let owned = false;
      for (const e of mine) if (await mayStillOwn(e, client)) owned = true;
      if (owned) {
        ownedSubjects.push(subject);
        continue;
      }
      await ceph.unsetGroupNoout(host);
      const ops = [...new Set(mine.map((e) => e.operationId))];
      for (const operationId of ops) {
        await closeChanges(
          db,
          { operationId, kind: 'noout_host', subject },
          'undone',
          'unset by the cluster monitor: the operation that set it no longer runs',
        );
      }
      const line = `noout unset on ${host}: left by operation ${ops.join(', ')}, which no longer runs`;
      repaired.push(line);
      logger.warn('cluster monitor repaired drift', { cluster_id: clusterId, host, operation_ids: ops, repair: line });
    }
    if (autoscaleFrozen) {
      const mine = entries.filter((e) => e.kind === 'autoscale_frozen' && e.subject === clusterId);
      let owned = mine.length === 0;
      for (const e of mine) if (await mayStillOwn(e, client)) owned = true;
      if (!owned) {
        await ceph.setNoAutoscale(false);
        const ops = [...new Set(mine.map((e) => e.operationId))];
        for (const operationId of ops) {
          await closeChanges(
            db,
            { operationId, kind: 'autoscale_frozen', subject: clusterId },
            'undone',
            'unset by the cluster monitor: the operation that set it no longer runs',
          );
        }
        const line = `noautoscale unset: left by operation ${ops.join(', ')}, which no longer runs`;
        repaired.push(line);
        logger.warn('cluster monitor repaired drift', { cluster_id: clusterId, operation_ids: ops, repair: line });
      }
    }
    return { repaired, ownedSubjects };
  }

  return {
    /**
     * One round of the cluster monitor (docs/operators.md §The cluster monitor): reads Ceph's status
     * with its health checks, OSDs, per-host noout and the autoscale freeze through the cluster's
     * driver, adds NodeFoundry's drift checks, and records it all in one transaction
     * (recordMonitorRound). Takes no operation lock. An admin node that does not answer makes the
     * cluster UNREACHABLE. A database failure is thrown (Temporal retries; the next round anyway).
     */
    async monitorCluster(input: { clusterId: string }): Promise<MonitorRoundResult> {
      const { clusterId } = input;
      const cluster = await getClusterById(db, clusterId);
      if (!cluster) return { state: 'gone', status: null, raised: [], cleared: [] };
      if (!MONITORED.includes(cluster.status) || !cluster.admin_node_id) {
        return { state: 'skipped', status: cluster.status, raised: [], cleared: [] };
      }
      let round: { reading: MonitorReading } | { unreachable: string };
      try {
        // The mgr's PG statistics as they stand: no flush of every OSD each round (drivers/types.ts freshPgStats).
        const ceph = await cephFor(deps, clusterId, { freshPgStats: false });
        const status = await ceph.status();
        let osds = await ceph.osds();
        let nooutHosts = await ceph.nooutHosts();
        let autoscaleFrozen = await ceph.noAutoscale();
        const inMaintenance = await maintenanceHosts(db, clusterId);
        const { repaired, ownedSubjects } = await repairNoout(
          clusterId,
          ceph,
          nooutHosts,
          autoscaleFrozen,
          inMaintenance,
        );
        if (repaired.length) {
          nooutHosts = await ceph.nooutHosts();
          autoscaleFrozen = await ceph.noAutoscale();
        }
        // OSD weights (activities/monitor-weight-drift.ts): repaired from the ledger's evidence, else reported.
        const weightRepairs = await repairWeightDrift({
          db,
          logger,
          clusterId,
          osds,
          crushReweight: (osdId, weight) => ceph.crushReweight(osdId, weight),
          mayStillOwn: (e) => mayStillOwn(e, clientOf()),
        });
        if (weightRepairs.length) {
          repaired.push(...weightRepairs);
          osds = await ceph.osds();
        }
        const running = await runningOwnership(db, clusterId);
        const drift = driftChecks(
          clusterId,
          { flags: status.flags, nooutHosts, autoscaleFrozen },
          { operations: running.operations, openNooutSubjects: ownedSubjects, maintenanceHosts: inMaintenance },
        );
        const weightCheck = weightDriftCheck(
          weightDrifts(osds, await expectedWeights(db, clusterId)),
          running.operations.length,
        );
        if (weightCheck) drift.push(weightCheck);
        round = {
          reading: {
            health: status.health,
            checks: [...status.checks.map((c) => ({ ...c, source: 'ceph' as const })), ...drift],
            osds,
            flags: status.flags,
            nooutHosts,
            autoscaleFrozen,
            monsInQuorum: status.mons_in_quorum,
            monsTotal: status.mons_total,
            mgrAvailable: status.mgr_available,
            pgsTotal: status.pgs_total,
            pgsActiveClean: status.pgs_active_clean,
            repaired,
            capacity: { rawBytes: status.bytes_total, usedBytes: status.bytes_used, availBytes: status.bytes_avail },
          },
        };
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        round = { unreachable: (err as Error).message.slice(0, 500) };
      }
      // Node probes (activities/node-probes.ts): whatever Ceph said, written in the round's transaction.
      const probes = await probeMembers(deps, clusterId);
      let nodesChanged: string[] = [];
      const out = await recordMonitorRound(db, clusterId, MONITORED, round, async (trx, change) => {
        await recordMonitorEvents(trx, change);
        nodesChanged = await recordNodeProbes(trx, clusterId, probes);
      });
      if (nodesChanged.length) logger.info('cluster members changed', { cluster_id: clusterId, nodes: nodesChanged });
      if (out.state === 'gone') return { state: 'gone', status: null, raised: [], cleared: [] };
      if (out.state === 'skipped') return { state: 'skipped', status: out.status, raised: [], cleared: [] };
      if (out.raised.length || out.cleared.length || out.status !== cluster.status) {
        logger.info('cluster health changed', {
          cluster_id: clusterId,
          status: out.status,
          raised: out.raised,
          cleared: out.cleared,
        });
      }
      return {
        state: 'unreachable' in round ? 'unreachable' : 'observed',
        status: out.status,
        raised: out.raised,
        cleared: out.cleared,
        ...('reading' in round && round.reading.repaired.length ? { repaired: round.reading.repaired } : {}),
        ...(nodesChanged.length ? { nodes: nodesChanged } : {}),
      };
    },
  };
}
