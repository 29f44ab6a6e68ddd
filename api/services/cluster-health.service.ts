import type { Cluster } from '../../db/database';
import type { ApiDeps } from '../context';

/** The cluster's health as the monitor last recorded it (docs/api.md §Cluster health); reads only PostgreSQL. */
export async function clusterHealth(deps: Pick<ApiDeps, 'db'>, c: Cluster): Promise<Record<string, unknown>> {
  const [checks, row, osds] = await Promise.all([
    deps.db
      .selectFrom('cluster_health_checks')
      .selectAll()
      .where('cluster_id', '=', c.id)
      .orderBy('severity', 'desc')
      .orderBy('code')
      .execute(),
    deps.db.selectFrom('cluster_health').selectAll().where('cluster_id', '=', c.id).executeTakeFirst(),
    deps.db
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
  };
}
