import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

/** What removing a host is planned from (read by the readRemoveHostFacts activity). JSON-safe. */
export interface RemoveHostFacts {
  clusterId: string;
  clusterName: string;
  nodeId: string;
  /** The host's name in Ceph. */
  host: string;
  /** The node NodeFoundry runs `ceph` through (clusters.admin_node_id). */
  adminNodeId: string | null;
  failureDomain: string;
  /** Every OSD of the cluster as Ceph reports it now (bytes from `ceph osd df`). */
  osds: { id: number; host: string; up: boolean; crush_weight: number; used_bytes: number; size_bytes: number }[];
  /** Hosts of the cluster (CRUSH), the host to remove included. */
  hosts: string[];
  /** Copies (replicated size) or shards (k+m) each pool keeps on distinct failure domains. */
  pools: { name: string; width: number }[];
  /** The cluster's replication factor (used when Ceph lists no pool). */
  replicationFactor: number;
  mons: string[];
  mgrs: string[];
  /** Other hosts of the cluster that are up (candidates for a moved mon or mgr). */
  upHosts: string[];
}

/** Failure types of a host removal (the operation's error.code; the dry run's refusal codes). */
export const REMOVE_HOST_FAILURE = {
  /** The data on the cluster would not fit on the remaining hosts below Ceph's nearfull ratio. */
  insufficientCapacity: 'insufficient_capacity',
  /** Fewer failure domains would be left than a pool keeps copies/shards on. */
  insufficientFailureDomains: 'insufficient_failure_domains',
  /** The host is not a host of the cluster in Ceph. */
  hostNotInCluster: 'host_not_in_cluster',
  /** A mon on the host has nowhere to go and the remaining mons would lose quorum safety. */
  monQuorum: 'mon_quorum_at_risk',
  /** The node is the one NodeFoundry runs `ceph` through. */
  nodeIsAdmin: 'node_is_admin',
} as const;

/** Ceph's mon_osd_nearfull_ratio default: the remaining OSDs must stay below it. */
export const NEARFULL_RATIO = 0.85;

const GB = 1e9;
const gb = (bytes: number) => Math.round(bytes / GB);

export interface RemoveHostPlanFacts {
  host_osds: number[];
  used_gb: number;
  remaining_capacity_gb: number;
  remaining_usable_gb: number;
  used_ratio_after: number;
  failure_domains_left: number;
  widest_pool: number;
  mons_after: string[];
  mgrs_after: string[];
}

/**
 * Where a mon or mgr of the host goes: the same count on the other hosts, the host's daemon
 * replaced by an up host that runs none yet (in name order), so quorum keeps its size.
 */
export function placementAfter(current: string[], host: string, upHosts: string[]): string[] {
  if (!current.includes(host)) return [...current].sort();
  const kept = current.filter((h) => h !== host);
  const spare = upHosts.filter((h) => h !== host && !kept.includes(h)).sort()[0];
  return (spare ? [...kept, spare] : kept).sort();
}

/**
 * The removal as a plan: capacity and failure domains checked with figures, where mons and mgrs go,
 * the OSDs drained. The workflow's preflight refuses exactly what this refuses; a dry run returns it.
 */
export function removeHostPlan(f: RemoveHostFacts): OperationPlan<'cluster.shrink'> {
  const refusals: PlanRefusal[] = [];
  const hostOsds = f.osds
    .filter((o) => o.host === f.host)
    .map((o) => o.id)
    .sort((a, b) => a - b);
  const others = f.osds.filter((o) => o.host !== f.host);
  const used = f.osds.reduce((s, o) => s + o.used_bytes, 0);
  const remaining = others.filter((o) => o.crush_weight > 0).reduce((s, o) => s + o.size_bytes, 0);
  const usable = remaining * NEARFULL_RATIO;
  const ratioAfter = remaining > 0 ? used / remaining : used > 0 ? Infinity : 0;
  const domainsLeft = new Set(others.filter((o) => o.crush_weight > 0).map((o) => o.host)).size;
  const widths = f.pools.length > 0 ? f.pools : [{ name: '(default)', width: f.replicationFactor }];
  const widest = widths.reduce((a, p) => (p.width > a.width ? p : a), widths[0]!);
  const monsAfter = placementAfter(f.mons, f.host, f.upHosts);
  const mgrsAfter = placementAfter(f.mgrs, f.host, f.upHosts);

  if (!f.hosts.includes(f.host)) {
    refusals.push({
      code: REMOVE_HOST_FAILURE.hostNotInCluster,
      message: `${f.host} is not a host of cluster ${f.clusterName} in Ceph.`,
    });
  }
  if (f.adminNodeId === f.nodeId) {
    refusals.push({
      code: REMOVE_HOST_FAILURE.nodeIsAdmin,
      message: `${f.host} is the admin node NodeFoundry runs ceph through for cluster ${f.clusterName}; it cannot be removed.`,
    });
  }
  if (domainsLeft < widest.width) {
    refusals.push({
      code: REMOVE_HOST_FAILURE.insufficientFailureDomains,
      message:
        `Removing ${f.host} would leave ${domainsLeft} ${f.failureDomain}(s) holding data; pool ${widest.name} keeps ` +
        `${widest.width} copies/shards on distinct ${f.failureDomain}s: ${widest.width - domainsLeft} ${f.failureDomain}(s) short.`,
    });
  }
  // Each PG keeps at most one copy (or shard) per host, so a host holds at most used ÷ width of the
  // data, whatever its size: with one small host left, the sum below nearfull can look enough while
  // the copies that cannot go elsewhere fill the small host (3 copies on 3 remaining hosts).
  // The narrowest pool bounds what a host may hold, so this never refuses a removal that fits.
  const narrowest = Math.min(...widths.map((p) => p.width));
  const perHostMax = narrowest > 0 ? used / narrowest : used;
  const byHost = new Map<string, number>();
  for (const o of others) if (o.crush_weight > 0) byHost.set(o.host, (byHost.get(o.host) ?? 0) + o.size_bytes);
  const small = [...byHost]
    .filter(([, size]) => size * NEARFULL_RATIO < perHostMax)
    .sort(([a], [b]) => a.localeCompare(b));
  const spreadable = [...byHost.values()].reduce((s, size) => s + Math.min(size * NEARFULL_RATIO, perHostMax), 0);
  if (used > usable) {
    refusals.push({
      code: REMOVE_HOST_FAILURE.insufficientCapacity,
      message:
        `The remaining hosts cannot hold the data: ${gb(used)} GB stored (raw), ${gb(remaining)} GB of OSDs left without ${f.host}, ` +
        `${gb(usable)} GB below the nearfull ratio ${NEARFULL_RATIO}; ${gb(used - usable)} GB short ` +
        `(${Math.round(ratioAfter * 100)} % full after the move).`,
    });
  } else if (f.failureDomain === 'host' && used > spreadable * (1 + 1e-9)) {
    refusals.push({
      code: REMOVE_HOST_FAILURE.insufficientCapacity,
      message:
        `The remaining hosts cannot hold the data: ${gb(used)} GB stored (raw) with at most one copy of each PG per host ` +
        `(${narrowest} copies/shards), so each host must take up to ${gb(perHostMax)} GB, and ` +
        `${small.map(([h, size]) => `${h} (${gb(size * NEARFULL_RATIO)} GB below the nearfull ratio ${NEARFULL_RATIO})`).join(', ')} ` +
        `cannot: ${gb(spreadable)} GB can be placed; ${gb(used - spreadable)} GB short.`,
    });
  }
  if (f.mons.includes(f.host) && monsAfter.length < f.mons.length && monsAfter.length < 3) {
    refusals.push({
      code: REMOVE_HOST_FAILURE.monQuorum,
      message: `${f.host} runs a mon and no other up host can take it: ${monsAfter.length} mon(s) would be left of ${f.mons.length}.`,
    });
  }

  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Read cluster ${f.clusterName}: ${f.host} holds ${hostOsds.length} OSD(s); ${gb(used)} GB stored must fit below ${NEARFULL_RATIO} of the ${gb(remaining)} GB left.`,
      checks: [
        `failure domains left ≥ ${widest.width} (widest pool ${widest.name})`,
        `used ≤ ${NEARFULL_RATIO} × remaining capacity`,
        'mons keep their count elsewhere',
      ],
    },
    {
      name: 'move_mons',
      description: f.mons.includes(f.host)
        ? `Place mons on ${monsAfter.join(', ')} (was ${[...f.mons].sort().join(', ')}); wait until they run.`
        : `${f.host} runs no mon: nothing to move.`,
      checks: ['mons running where placed'],
    },
    {
      name: 'move_mgrs',
      description: f.mgrs.includes(f.host)
        ? `Place mgrs on ${mgrsAfter.join(', ')} (was ${[...f.mgrs].sort().join(', ')}); wait until they run.`
        : `${f.host} runs no mgr: nothing to move.`,
      checks: ['mgrs running where placed'],
    },
    {
      name: 'drain_osds',
      description: `Record the CRUSH weights of ${hostOsds.map((i) => `osd.${i}`).join(', ') || 'no OSD'}, set them to 0 and watch their PGs move away (restored on cancel or failure).`,
      checks: ['PG count of each OSD', 'no PG CRUSH cannot place', 'backfill keeps moving'],
    },
    {
      name: 'safe_to_destroy',
      description: `ceph osd safe-to-destroy ${hostOsds.join(' ')}`,
      checks: ['every OSD of the host safe to destroy'],
    },
    {
      name: 'purge_osds',
      description: `Stop Ceph on ${f.host}, ceph osd purge each of its OSDs, zap the devices that held them. From here on the removal finishes even if cancelled.`,
      checks: ['the OSD map no longer holds the OSDs'],
    },
    {
      name: 'remove_host',
      description: `ceph osd crush remove ${f.host} (and, with cephadm, ceph orch host rm).`,
      checks: ['the host bucket holds no OSD'],
    },
    {
      name: 'release_node',
      description: `Node ${f.nodeId} leaves the cluster and is ready again; the cluster's state recorded.`,
      checks: [],
    },
  ];
  const facts: RemoveHostPlanFacts & Record<string, unknown> = {
    cluster_id: f.clusterId,
    node_id: f.nodeId,
    host: f.host,
    host_osds: hostOsds,
    used_gb: gb(used),
    remaining_capacity_gb: gb(remaining),
    remaining_usable_gb: gb(usable),
    used_ratio_after: Number.isFinite(ratioAfter) ? Math.round(ratioAfter * 1000) / 1000 : 1,
    failure_domains_left: domainsLeft,
    widest_pool: widest.width,
    mons_after: monsAfter,
    mgrs_after: mgrsAfter,
  };
  return { type: 'cluster.shrink', would_run: refusals.length === 0, refusals, steps, facts };
}
