/**
 * Gathers the evidence the invariants judge, from the outside: the API's view of every operation,
 * the rows in PostgreSQL, every machine's power log and the simulated Ceph of every cluster.
 */
import type { Db } from '../../db/database';
import {
  createSandboxCephDriver,
  getSandboxCephState,
  getSandboxMachine,
  listPowerEvents,
} from '../../drivers/sandbox';
import type { CephDriver } from '../../drivers/types';
import type { ChaosHttp, RequestRecord } from './client';
import type { ClusterEvidence, Evidence, MachineEvidence, OpEvidence } from './invariants';
import type { Downtime } from './processes';
import type { ChaosWorld } from './setup';

/** The simulated Ceph as an operator on one of its running hosts sees it (null when none runs). */
export async function cephOf(db: Db, world: ChaosWorld, clusterId: string): Promise<CephDriver | null> {
  const cluster = world.clusters.find((c) => c.id === clusterId)!;
  for (const n of cluster.nodes) {
    const m = await getSandboxMachine(db, world.accountId, n.ipmi_address);
    if (m?.running) {
      return createSandboxCephDriver(db, world.accountId, {
        clusterId,
        admin: { host: n.ip_address, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
      });
    }
  }
  return null;
}

export async function collectEvidence(
  db: Db,
  http: ChaosHttp,
  world: ChaosWorld,
  run: { startedAt: number; requests: RequestRecord[]; downtimes: Downtime[] },
): Promise<Evidence> {
  const rows = await db
    .selectFrom('operations')
    .selectAll()
    .where('account_id', '=', world.accountId)
    .orderBy('created_at')
    .execute();
  const operations: OpEvidence[] = [];
  for (const r of rows) {
    const view = await http.get(`/v1/operations/${r.id}`).catch(() => null);
    operations.push({
      id: r.id,
      type: r.type,
      status: r.status,
      viewStatus: view?.status ?? null,
      request_id: r.request_id,
      node_id: r.node_id,
      cluster_id: r.cluster_id,
      osd_id: r.osd_id,
      params: r.params,
      // A running workflow answers with its live steps and logs; the row has them once it ended.
      steps: ((view?.steps as typeof r.steps | undefined) ?? r.steps).map((s) => ({
        name: s.name,
        status: s.status,
        started_at: s.started_at,
      })),
      error: r.error,
      lastLogs: ((view?.logs as typeof r.logs | undefined) ?? r.logs).slice(-4).map((l) => l.message),
      created_at: r.created_at.getTime(),
      completed_at: r.completed_at ? new Date(r.completed_at).getTime() : null,
    });
  }

  const machines: MachineEvidence[] = [];
  const clusters: ClusterEvidence[] = [];
  const now = Date.now();
  for (const c of world.clusters) {
    for (const n of c.nodes) {
      const m = (await getSandboxMachine(db, world.accountId, n.ipmi_address, { now: () => now }))!;
      const log = await listPowerEvents(db, world.accountId, n.ipmi_address);
      machines.push({
        nodeId: n.id,
        hostname: n.hostname,
        clusterId: c.id,
        power_state: m.power_state,
        shutting_down: m.shutting_down,
        running: m.running,
        shutdown_delay_ms: m.shutdown_delay_ms,
        powerLog: log.map((e) => ({ action: e.action, at: e.at.getTime(), operationId: e.operation_id })),
      });
    }
    const state = (await getSandboxCephState(db, c.id))!;
    const ceph = await cephOf(db, world, c.id);
    const osds = ceph
      ? (await ceph.osds()).map((o) => ({ id: o.id, host: o.host, up: o.up, in: o.in, crush_weight: o.crush_weight }))
      : state.osds.map((o) => ({ id: o.id, host: o.host, up: false, in: false, crush_weight: o.crush_weight }));
    clusters.push({
      id: c.id,
      nooutHosts: [...state.noout_hosts],
      flags: ceph ? (await ceph.status()).flags : [],
      osds,
      initialWeights: c.initialWeights,
      noautoscale: state.upgrade?.noautoscale ?? false,
      cephPools: (state.pools ?? []).map((p) => ({ name: p.name, pg_autoscale_mode: p.pg_autoscale_mode })),
    });
  }

  const locks = await db.selectFrom('operation_locks').select(['resource_id', 'operation_id']).execute();
  const clusterIds = world.clusters.map((c) => c.id);
  return {
    startedAt: run.startedAt,
    endedAt: Date.now(),
    requests: run.requests,
    downtimes: run.downtimes,
    operations,
    locks,
    machines,
    clusters,
    rows: {
      pools: await db
        .selectFrom('pools')
        .select(['id', 'cluster_id', 'name', 'status', 'pg_autoscale'])
        .where('cluster_id', 'in', clusterIds)
        .execute(),
      nodes: await db
        .selectFrom('nodes')
        .select(['id', 'hostname', 'status'])
        .where('account_id', '=', world.accountId)
        .execute(),
      clusters: await db
        .selectFrom('clusters')
        .select(['id', 'status'])
        .where('account_id', '=', world.accountId)
        .execute(),
    },
  };
}
