import { sql, type Transaction } from 'kysely';
import type { ClusterStatus, Database } from '../db/database';
import { DriverError, type CephHealthCheck, type CephOsd, type CephStatus } from '../drivers/types';
import { FAILURE } from '../lib/failures';
import { hostSubject } from './change-ledger';
import type { ActivityDeps } from './deps';
import { cephFor } from './targets';

/** NodeFoundry's own drift checks (docs/api.md §Cluster health), raised and cleared like Ceph's. */
export const NF_CHECK = {
  /** A host carries noout and no running operation of this cluster recorded setting it. */
  nooutOrphaned: 'NF_NOOUT_ORPHANED',
  /** Cluster-wide flags (noout, norebalance, …) set while no operation of this cluster runs. */
  flagsOrphaned: 'NF_FLAGS_ORPHANED',
  /** `ceph osd pool set noautoscale` in effect while no upgrade of this cluster runs. */
  autoscaleFrozenOrphaned: 'NF_AUTOSCALE_FROZEN_ORPHANED',
} as const;

/** Cluster-wide OSD map flags an operator or an operation sets on purpose (routine feature flags are already left out). */
const ACTION_FLAGS = ['noout', 'noin', 'noup', 'nodown', 'norebalance', 'nobackfill', 'norecover', 'noscrub', 'nodeep-scrub', 'pause'];

/** Statuses the monitor owns: Ceph's health or UNREACHABLE. CREATING/IMPORTING/DELETING/ERROR belong to operations. */
const MONITORED: readonly ClusterStatus[] = ['HEALTH_OK', 'HEALTH_WARN', 'HEALTH_ERR', 'UNREACHABLE'];

const RUNNING = ['pending', 'in_progress', 'paused'] as const;

export interface MonitorRoundResult {
  /** gone: the cluster row is deleted (the monitor ends); skipped: an operation owns the status (creating, deleting, error). */
  state: 'gone' | 'skipped' | 'observed' | 'unreachable';
  status: ClusterStatus | null;
  raised: string[];
  cleared: string[];
}

export interface HealthCheckChange {
  clusterId: string;
  accountId: string;
  raised: (CephHealthCheck & { source: 'ceph' | 'nodefoundry' })[];
  cleared: string[];
  statusBefore: ClusterStatus;
  statusAfter: ClusterStatus;
}

/**
 * THE call site for the events of a monitor round (issue 11's outbox, built separately): called in
 * the round's transaction with the checks raised and cleared and the status change. A no-op until
 * the merger wires it to `recordEvent(trx, …)` (cluster.health_check_raised / _cleared,
 * cluster.status_changed).
 */
export async function recordMonitorEvents(_trx: Transaction<Database>, _change: HealthCheckChange): Promise<void> {
  // Wired to the events outbox at merge time.
}

function isUnreachable(err: unknown): boolean {
  return (
    err instanceof DriverError &&
    (err.type === FAILURE.sshUnreachable || err.type === FAILURE.cephUnavailable || err.retryable)
  );
}

export function createMonitorActivities(deps: ActivityDeps) {
  const { db, logger } = deps;

  /** NodeFoundry's drift checks from this round's reading and the operations/ledger of the cluster. */
  async function driftChecks(
    clusterId: string,
    status: CephStatus,
    nooutHosts: string[],
    autoscaleFrozen: boolean,
  ): Promise<CephHealthCheck[]> {
    const running = await db
      .selectFrom('operations')
      .select(['id', 'type'])
      .where('cluster_id', '=', clusterId)
      .where('status', 'in', RUNNING)
      .execute();
    const owned = new Set(
      running.length === 0
        ? []
        : (
            await db
              .selectFrom('operation_changes')
              .select('subject')
              .where('operation_id', 'in', running.map((o) => o.id))
              .where('kind', '=', 'noout_host')
              .where('state', '=', 'open')
              .execute()
          ).map((c) => c.subject),
    );
    const checks: CephHealthCheck[] = [];
    const orphans = nooutHosts.filter((h) => !owned.has(hostSubject(clusterId, h)));
    if (orphans.length) {
      checks.push({
        code: NF_CHECK.nooutOrphaned,
        severity: 'HEALTH_WARN',
        summary: `noout set on ${orphans.join(', ')} with no running operation that set it`,
      });
    }
    const flags = status.flags.filter((f) => ACTION_FLAGS.includes(f));
    if (flags.length && running.length === 0) {
      checks.push({
        code: NF_CHECK.flagsOrphaned,
        severity: 'HEALTH_WARN',
        summary: `cluster flag(s) ${flags.join(', ')} set with no running operation`,
      });
    }
    if (autoscaleFrozen && !running.some((o) => o.type === 'cluster.upgrade')) {
      checks.push({
        code: NF_CHECK.autoscaleFrozenOrphaned,
        severity: 'HEALTH_WARN',
        summary: 'PG autoscaling frozen (noautoscale) with no running upgrade',
      });
    }
    return checks;
  }

  /** Writes the round's checks: new codes inserted (since now), kept ones refreshed (since kept), gone ones deleted. */
  async function writeChecks(
    trx: Transaction<Database>,
    clusterId: string,
    checks: (CephHealthCheck & { source: 'ceph' | 'nodefoundry' })[],
  ): Promise<{ raised: (CephHealthCheck & { source: 'ceph' | 'nodefoundry' })[]; cleared: string[] }> {
    const before = await trx
      .selectFrom('cluster_health_checks')
      .select('code')
      .where('cluster_id', '=', clusterId)
      .forUpdate()
      .execute();
    const had = new Set(before.map((c) => c.code));
    const now = new Set(checks.map((c) => c.code));
    const cleared = [...had].filter((c) => !now.has(c)).sort();
    if (cleared.length) {
      await trx
        .deleteFrom('cluster_health_checks')
        .where('cluster_id', '=', clusterId)
        .where('code', 'in', cleared)
        .execute();
    }
    for (const c of checks) {
      await trx
        .insertInto('cluster_health_checks')
        .values({ cluster_id: clusterId, code: c.code, source: c.source, severity: c.severity, summary: c.summary })
        .onConflict((oc) =>
          oc.columns(['cluster_id', 'code']).doUpdateSet({
            source: c.source,
            severity: c.severity,
            summary: c.summary,
            observed_at: sql`now()`,
          }),
        )
        .execute();
    }
    return { raised: checks.filter((c) => !had.has(c.code)), cleared };
  }

  async function writeOsds(trx: Transaction<Database>, clusterId: string, osds: CephOsd[]): Promise<void> {
    for (const o of osds) {
      await trx
        .updateTable('osds')
        .set({ status: o.up ? 'up' : 'down', in: o.in, reweight: o.reweight, pgs: o.pgs, updated_at: sql`now()` })
        .where('cluster_id', '=', clusterId)
        .where('osd_id', '=', o.id)
        .execute();
    }
  }

  return {
    /**
     * One round of the cluster monitor (docs/operators.md §The cluster monitor): reads Ceph's status
     * with its health checks, OSDs, per-host noout and the autoscale freeze through the cluster's
     * driver, adds NodeFoundry's drift checks, and writes it all in one transaction: the checks (with
     * `since`), the cluster_health row, each known OSD's up/in, the cluster's status (only while it
     * is a health status or UNREACHABLE: an operation's CREATING/DELETING/ERROR is left alone) and
     * observed_at. Takes no operation lock. An admin node that does not answer makes the cluster
     * UNREACHABLE. Never throws for Ceph's answers; a database failure is retried by Temporal.
     */
    async monitorCluster(input: { clusterId: string }): Promise<MonitorRoundResult> {
      const { clusterId } = input;
      const cluster = await db.selectFrom('clusters').selectAll().where('id', '=', clusterId).executeTakeFirst();
      if (!cluster) return { state: 'gone', status: null, raised: [], cleared: [] };
      if (!MONITORED.includes(cluster.status) || !cluster.admin_node_id) {
        return { state: 'skipped', status: cluster.status, raised: [], cleared: [] };
      }

      let reading: { status: CephStatus; osds: CephOsd[]; noout: string[]; frozen: boolean } | null = null;
      let unreachable: string | null = null;
      try {
        const ceph = await cephFor(deps, clusterId);
        const status = await ceph.status();
        const osds = await ceph.osds();
        const noout = await ceph.nooutHosts();
        const frozen = await ceph.noAutoscale();
        reading = { status, osds, noout, frozen };
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        unreachable = (err as Error).message.slice(0, 500);
      }

      const drift = reading ? await driftChecks(clusterId, reading.status, reading.noout, reading.frozen) : [];
      return db.transaction().execute(async (trx) => {
        const locked = await trx
          .selectFrom('clusters')
          .select(['status', 'account_id'])
          .where('id', '=', clusterId)
          .forUpdate()
          .executeTakeFirst();
        if (!locked) return { state: 'gone', status: null, raised: [], cleared: [] } satisfies MonitorRoundResult;
        // An operation took the status over while Ceph was being read: its word stands.
        if (!MONITORED.includes(locked.status)) {
          return { state: 'skipped', status: locked.status, raised: [], cleared: [] } satisfies MonitorRoundResult;
        }
        if (!reading) {
          await trx
            .updateTable('clusters')
            .set({
              status: 'UNREACHABLE',
              status_reason: `The admin node did not answer the cluster monitor: ${unreachable}`,
              observed_at: sql`now()`,
              updated_at: sql`now()`,
            })
            .where('id', '=', clusterId)
            .execute();
          await trx
            .insertInto('cluster_health')
            .values({ cluster_id: clusterId, unreachable_reason: unreachable })
            .onConflict((oc) =>
              oc.column('cluster_id').doUpdateSet({ unreachable_reason: unreachable, observed_at: sql`now()` }),
            )
            .execute();
          await recordMonitorEvents(trx, {
            clusterId,
            accountId: locked.account_id,
            raised: [],
            cleared: [],
            statusBefore: locked.status,
            statusAfter: 'UNREACHABLE',
          });
          if (locked.status !== 'UNREACHABLE') logger.warn('cluster unreachable', { cluster_id: clusterId, reason: unreachable });
          return { state: 'unreachable', status: 'UNREACHABLE', raised: [], cleared: [] } satisfies MonitorRoundResult;
        }
        const { status, osds, noout, frozen } = reading;
        const checks = [
          ...status.checks.map((c) => ({ ...c, source: 'ceph' as const })),
          ...drift.map((c) => ({ ...c, source: 'nodefoundry' as const })),
        ];
        const { raised, cleared } = await writeChecks(trx, clusterId, checks);
        await writeOsds(trx, clusterId, osds);
        const row = {
          flags: JSON.stringify(status.flags),
          noout_hosts: JSON.stringify([...noout].sort()),
          autoscale_frozen: frozen,
          mons_in_quorum: JSON.stringify(status.mons_in_quorum),
          mons_total: status.mons_total,
          mgr_available: status.mgr_available,
          pgs_total: status.pgs_total,
          pgs_active_clean: status.pgs_active_clean,
          unreachable_reason: null,
        };
        await trx
          .insertInto('cluster_health')
          .values({ cluster_id: clusterId, ...row })
          .onConflict((oc) => oc.column('cluster_id').doUpdateSet({ ...row, observed_at: sql`now()` }))
          .execute();
        const rawTib = osds.reduce((sum, o) => sum + o.crush_weight, 0);
        await trx
          .updateTable('clusters')
          .set({
            status: status.health,
            status_reason: null,
            osd_count: osds.length,
            raw_capacity_tib: Math.round(rawTib * 10) / 10,
            observed_at: sql`now()`,
            updated_at: sql`now()`,
          })
          .where('id', '=', clusterId)
          .execute();
        await recordMonitorEvents(trx, {
          clusterId,
          accountId: locked.account_id,
          raised,
          cleared,
          statusBefore: locked.status,
          statusAfter: status.health,
        });
        if (raised.length || cleared.length) {
          logger.info('cluster health changed', {
            cluster_id: clusterId,
            raised: raised.map((c) => c.code),
            cleared,
          });
        }
        return {
          state: 'observed',
          status: status.health,
          raised: raised.map((c) => c.code),
          cleared,
        } satisfies MonitorRoundResult;
      });
    },
  };
}
