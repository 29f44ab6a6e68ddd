import { sql, type Transaction } from 'kysely';
import type { Cluster, ClusterStatus, Database, Db, EnvironmentName, Executor } from '../database';

/** A health check as the monitor records it: Ceph's, or NodeFoundry's own NF_* drift check. */
export interface RecordedCheck {
  code: string;
  source: 'ceph' | 'nodefoundry';
  severity: 'HEALTH_WARN' | 'HEALTH_ERR';
  summary: string;
}

/** What one monitor round read from Ceph. */
export interface MonitorReading {
  health: 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR';
  checks: RecordedCheck[];
  osds: {
    id: number;
    up: boolean;
    in: boolean;
    reweight: number;
    pgs: number;
    crush_weight: number;
    /** Bytes the OSD stores (`ceph osd df` kb_used), recorded as whole GB (10^9, like capacity_gb). */
    used_bytes: number;
  }[];
  flags: string[];
  nooutHosts: string[];
  autoscaleFrozen: boolean;
  monsInQuorum: string[];
  monsTotal: number;
  mgrAvailable: boolean;
  pgsTotal: number;
  pgsActiveClean: number;
  /** Drift repaired before this reading (see MonitorChange.repaired). */
  repaired: string[];
  /** Raw capacity from Ceph's PG map, bytes (every copy counted); null where Ceph did not say (issue 11). */
  capacity: CapacityReading;
}

export interface CapacityReading {
  rawBytes: number | null;
  usedBytes: number | null;
  availBytes: number | null;
}

/** Used raw capacity in TiB (2^40 bytes, as raw_capacity_tib), two decimals; null when unknown. */
export function usedCapacityTib(usedBytes: number | null): number | null {
  return usedBytes === null ? null : Math.round((usedBytes / 2 ** 40) * 100) / 100;
}

/** An OSD's used bytes as the osds table records them: whole GB (10^9), as capacity_gb. */
export function usedGb(usedBytes: number): number {
  return Math.round(usedBytes / 1e9);
}

/** What a round changed, handed to the events hook inside its transaction. */
export interface MonitorChange {
  clusterId: string;
  accountId: string;
  environment: EnvironmentName;
  raised: RecordedCheck[];
  cleared: string[];
  /** Drift the monitor repaired this round (certainly NodeFoundry's own leftover), one line each. */
  repaired: string[];
  statusBefore: ClusterStatus;
  statusAfter: ClusterStatus;
}

export type MonitorRoundOutcome =
  | { state: 'gone' }
  | { state: 'skipped'; status: ClusterStatus }
  | { state: 'recorded'; status: ClusterStatus; raised: string[]; cleared: string[] };

/** Running operations of a cluster (id, type) and the noout subjects their ledgers hold open. */
export async function runningOwnership(
  db: Executor,
  clusterId: string,
): Promise<{ operations: { id: string; type: string }[]; openNooutSubjects: string[] }> {
  const operations = await db
    .selectFrom('operations')
    .select(['id', 'type'])
    .where('cluster_id', '=', clusterId)
    .where('status', 'in', ['pending', 'in_progress', 'paused'])
    .execute();
  if (operations.length === 0) return { operations, openNooutSubjects: [] };
  const rows = await db
    .selectFrom('operation_changes')
    .select('subject')
    .where(
      'operation_id',
      'in',
      operations.map((o) => o.id),
    )
    .where('kind', '=', 'noout_host')
    .where('state', '=', 'open')
    .execute();
  return { operations, openNooutSubjects: rows.map((r) => r.subject) };
}

/** An open entry of the change ledger on this cluster, with the operation that recorded it. */
export interface OpenNooutEntry {
  kind: string;
  operationId: string;
  operationStatus: string;
  workflowId: string;
  subject: string;
}

/** The change ledger's open noout and autoscale-freeze entries of operations on this cluster, running or not. */
export async function openNooutEntries(db: Executor, clusterId: string): Promise<OpenNooutEntry[]> {
  const rows = await db
    .selectFrom('operation_changes as c')
    .innerJoin('operations as o', 'o.id', 'c.operation_id')
    .select(['c.kind', 'c.operation_id', 'o.status', 'o.workflow_id', 'c.subject'])
    .where('o.cluster_id', '=', clusterId)
    .where('c.kind', 'in', ['noout_host', 'autoscale_frozen'])
    .where('c.state', '=', 'open')
    .execute();
  return rows.map((r) => ({
    kind: r.kind,
    operationId: r.operation_id,
    operationStatus: r.status,
    workflowId: r.workflow_id,
    subject: r.subject,
  }));
}

async function writeChecks(
  trx: Transaction<Database>,
  clusterId: string,
  checks: RecordedCheck[],
): Promise<{ raised: RecordedCheck[]; cleared: string[] }> {
  const before = await trx
    .selectFrom('cluster_health_checks')
    .select('code')
    .where('cluster_id', '=', clusterId)
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

/**
 * Records one monitor round in one transaction: the cluster row is locked; a cluster whose status
 * an operation owns (not in `monitored`) is left alone. With a reading: checks (new ones since now,
 * kept ones keep their since, gone ones deleted), the cluster_health row, each known OSD's up/in,
 * the cluster's status, OSD count, capacity and observed_at. Without one (`unreachable` says why):
 * status UNREACHABLE with the reason. `onChange` runs in the same transaction (the events outbox).
 */
export async function recordMonitorRound(
  db: Db,
  clusterId: string,
  monitored: readonly ClusterStatus[],
  round: { reading: MonitorReading } | { unreachable: string },
  onChange: (trx: Transaction<Database>, change: MonitorChange) => Promise<void>,
): Promise<MonitorRoundOutcome> {
  return db.transaction().execute(async (trx): Promise<MonitorRoundOutcome> => {
    const locked = await trx
      .selectFrom('clusters')
      .select(['status', 'account_id', 'environment'])
      .where('id', '=', clusterId)
      .forUpdate()
      .executeTakeFirst();
    if (!locked) return { state: 'gone' };
    if (!monitored.includes(locked.status)) return { state: 'skipped', status: locked.status };
    if ('unreachable' in round) {
      const reason = round.unreachable;
      await trx
        .updateTable('clusters')
        .set({
          status: 'UNREACHABLE',
          status_reason: `The admin node did not answer the cluster monitor: ${reason}`,
          observed_at: sql`now()`,
          updated_at: sql`now()`,
        })
        .where('id', '=', clusterId)
        .execute();
      await trx
        .insertInto('cluster_health')
        .values({ cluster_id: clusterId, unreachable_reason: reason })
        .onConflict((oc) =>
          oc.column('cluster_id').doUpdateSet({ unreachable_reason: reason, observed_at: sql`now()` }),
        )
        .execute();
      await onChange(trx, {
        clusterId,
        accountId: locked.account_id,
        environment: locked.environment,
        raised: [],
        cleared: [],
        repaired: [],
        statusBefore: locked.status,
        statusAfter: 'UNREACHABLE',
      });
      return { state: 'recorded', status: 'UNREACHABLE', raised: [], cleared: [] };
    }
    const r = round.reading;
    const { raised, cleared } = await writeChecks(trx, clusterId, r.checks);
    for (const o of r.osds) {
      await trx
        .updateTable('osds')
        .set({
          status: o.up ? 'up' : 'down',
          in: o.in,
          reweight: o.reweight,
          crush_weight: o.crush_weight,
          pgs: o.pgs,
          used_gb: usedGb(o.used_bytes),
          updated_at: sql`now()`,
        })
        .where('cluster_id', '=', clusterId)
        .where('osd_id', '=', o.id)
        .execute();
    }
    const row = {
      flags: JSON.stringify(r.flags),
      noout_hosts: JSON.stringify([...r.nooutHosts].sort()),
      autoscale_frozen: r.autoscaleFrozen,
      mons_in_quorum: JSON.stringify(r.monsInQuorum),
      mons_total: r.monsTotal,
      mgr_available: r.mgrAvailable,
      pgs_total: r.pgsTotal,
      pgs_active_clean: r.pgsActiveClean,
      unreachable_reason: null,
      raw_bytes: r.capacity.rawBytes,
      used_bytes: r.capacity.usedBytes,
      avail_bytes: r.capacity.availBytes,
    };
    await trx
      .insertInto('cluster_health')
      .values({ cluster_id: clusterId, ...row })
      .onConflict((oc) => oc.column('cluster_id').doUpdateSet({ ...row, observed_at: sql`now()` }))
      .execute();
    const rawTib = r.osds.reduce((sum, o) => sum + o.crush_weight, 0);
    await trx
      .updateTable('clusters')
      .set({
        status: r.health,
        status_reason: null,
        osd_count: r.osds.length,
        raw_capacity_tib: Math.round(rawTib * 10) / 10,
        used_capacity_tib: usedCapacityTib(r.capacity.usedBytes),
        observed_at: sql`now()`,
        updated_at: sql`now()`,
      })
      .where('id', '=', clusterId)
      .execute();
    await onChange(trx, {
      clusterId,
      accountId: locked.account_id,
      environment: locked.environment,
      raised,
      cleared,
      repaired: r.repaired,
      statusBefore: locked.status,
      statusAfter: r.health,
    });
    return { state: 'recorded', status: r.health, raised: raised.map((c) => c.code), cleared };
  });
}

/** The health view of a cluster the caller may see (docs/api.md §Cluster health). */
export async function clusterHealthView(db: Executor, c: Cluster): Promise<Record<string, unknown>> {
  const [checks, row, osds] = await Promise.all([
    db
      .selectFrom('cluster_health_checks')
      .selectAll()
      .where('cluster_id', '=', c.id)
      .orderBy('severity', 'desc')
      .orderBy('code')
      .execute(),
    db.selectFrom('cluster_health').selectAll().where('cluster_id', '=', c.id).executeTakeFirst(),
    db
      .selectFrom('osds')
      .select(['osd_id', 'host', 'status', 'in'])
      .where('cluster_id', '=', c.id)
      .orderBy('osd_id')
      .execute(),
  ]);
  return {
    cluster_id: c.id,
    status: c.status,
    status_reason: c.status_reason,
    observed_at: c.observed_at?.toISOString() ?? null,
    checks: checks.map((k) => ({
      code: k.code,
      source: k.source,
      severity: k.severity,
      summary: k.summary,
      since: k.since.toISOString(),
      observed_at: k.observed_at.toISOString(),
    })),
    flags: row?.flags ?? [],
    noout_hosts: row?.noout_hosts ?? [],
    autoscale_frozen: row?.autoscale_frozen ?? null,
    osds_down: osds.filter((o) => o.status === 'down').map((o) => ({ osd_id: o.osd_id, host: o.host, in: o.in })),
    osds_out: osds.filter((o) => !o.in).map((o) => o.osd_id),
    mons: { in_quorum: row?.mons_in_quorum ?? [], total: row?.mons_total ?? 0 },
    mgr_available: row ? row.mgr_available : null,
    pgs: { total: row ? row.pgs_total : null, active_clean: row ? row.pgs_active_clean : null },
    capacity: {
      raw_bytes: bytesOf(row?.raw_bytes),
      used_bytes: bytesOf(row?.used_bytes),
      avail_bytes: bytesOf(row?.avail_bytes),
    },
  };
}

/** A bigint column (pg hands it over as a string) as a number; null stays null. */
function bytesOf(v: string | null | undefined): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** Every cluster (of one account, when given), for the worker's start-up check that each has a monitor. */
export async function clustersToMonitor(
  db: Executor,
  accountId?: string,
): Promise<{ id: string; name: string; account_id: string; environment: EnvironmentName }[]> {
  let q = db.selectFrom('clusters').select(['id', 'name', 'account_id', 'environment']);
  if (accountId) q = q.where('account_id', '=', accountId);
  return q.orderBy('id').execute();
}
