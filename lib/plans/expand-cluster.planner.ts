import type { ClusterNodeFacts, FailureDomain } from './create-cluster.planner';
import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

/**
 * Adding hosts to a running cluster (issue 13 item 3): the pure planner. The dry run returns this
 * plan; the workflow's preflight refuses exactly what it refuses and raises the new OSDs' CRUSH
 * weights along its schedule.
 */

/** Failure types of an expansion (the operation's error.code). */
export const EXPAND_FAILURE = {
  /** After the move the cluster would sit at or above the nearfull ratio: backfill_toofull waits. */
  insufficientCapacity: 'insufficient_capacity',
  /** A requested node or a member host is in maintenance. */
  nodeInMaintenance: 'node_in_maintenance',
} as const;

/** Ceph's `target_max_misplaced_ratio` default: the balancer moves at most this share of objects at once. */
export const DEFAULT_MAX_MISPLACED_RATIO = 0.05;
/** Ceph's `mon_osd_nearfull_ratio` default. */
export const DEFAULT_NEARFULL_RATIO = 0.85;

export interface ExpandOsdFacts {
  id: number;
  host: string;
  crush_weight: number;
  capacity_gb: number;
  used_gb: number;
}

/** What an expansion is planned from (read by the describeClusterExpand activity). JSON-safe. */
export interface ExpandFacts {
  clusterId: string;
  clusterName: string;
  clusterStatus: string;
  replicationFactor: number;
  failureDomain: FailureDomain;
  /** The requested nodes, in the request's order. */
  nodes: ClusterNodeFacts[];
  missingNodeIds: string[];
  /** The cluster's member nodes now. */
  members: { nodeId: string; hostname: string; status: string; rack: string | null; zone: string | null }[];
  /** The cluster's OSDs as last recorded (capacity and use from `ceph osd df`). */
  osds: ExpandOsdFacts[];
}

export interface ExpandParams {
  nodeIds: string[];
  /** Share of objects one weight step may misplace (Ceph's target_max_misplaced_ratio); default 0.05. */
  maxMisplacedRatio?: number;
  /** Default 0.85 (mon_osd_nearfull_ratio). */
  nearfullRatio?: number;
}

export interface ExpandHost {
  nodeId: string;
  hostname: string;
  ipAddress: string;
  rack: string | null;
  zone: string | null;
  /** Healthy drives (SMART passed) that get an OSD. */
  osdDevices: string[];
  skippedDevices: string[];
}

/** One raise of the new OSDs' CRUSH weights. */
export interface WeightStep {
  /** The fraction of each new OSD's full weight (its size in TiB) set at this step; the last is 1. */
  fraction: number;
  /** The share of the cluster's data the new OSDs hold once this step has settled. */
  data_share: number;
  /** The share of objects this step misplaces (≤ the bound, but for rounding). */
  misplaced: number;
}

/** The full CRUSH weight (TiB) of a drive of `sizeGb` GB, as ceph-volume sets it. */
export function fullWeightOf(sizeGb: number): number {
  return Math.round(((sizeGb * 1e9) / 2 ** 40) * 1e5) / 1e5;
}

/**
 * The weight schedule: the new OSDs go from 0 to full weight in steps, each moving at most
 * `maxMisplaced` of the cluster's objects. With E the existing CRUSH weight and N the new, the new
 * OSDs hold f(s) = sN / (E + sN) of the data at fraction s; a step from f_{i-1} to f_i misplaces
 * about f_i − f_{i-1} of the objects, so f_i = i·maxMisplaced, s_i = f_i·E / (N·(1 − f_i)).
 */
export function weightSchedule(existing: number, added: number, maxMisplaced: number): WeightStep[] {
  if (added <= 0) return [];
  if (existing <= 0) return [{ fraction: 1, data_share: 1, misplaced: 1 }];
  const final = added / (existing + added);
  const count = Math.max(1, Math.ceil(final / maxMisplaced - 1e-9));
  const steps: WeightStep[] = [];
  let prev = 0;
  for (let i = 1; i <= count; i++) {
    const last = i === count;
    const share = last ? final : i * maxMisplaced;
    const fraction = last ? 1 : Math.round(((share * existing) / (added * (1 - share))) * 1e6) / 1e6;
    const dataShare = (fraction * added) / (existing + fraction * added);
    steps.push({
      fraction,
      data_share: Math.round(dataShare * 1e4) / 1e4,
      misplaced: Math.round((dataShare - prev) * 1e4) / 1e4,
    });
    prev = dataShare;
  }
  return steps;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;

export function expandPlan(
  facts: ExpandFacts,
  params: ExpandParams,
): OperationPlan<'cluster.expand'> & { hosts: ExpandHost[]; schedule: WeightStep[] } {
  const refusals: PlanRefusal[] = [];
  const fd = facts.failureDomain;
  const maxMisplaced = params.maxMisplacedRatio ?? DEFAULT_MAX_MISPLACED_RATIO;
  const nearfull = params.nearfullRatio ?? DEFAULT_NEARFULL_RATIO;
  const name = facts.clusterName;

  if (facts.clusterStatus !== 'HEALTH_OK' && facts.clusterStatus !== 'HEALTH_WARN') {
    refusals.push({
      code: 'invalid_state',
      message: `Cluster ${name} is ${facts.clusterStatus}; hosts are added only to a HEALTH_OK or HEALTH_WARN cluster.`,
    });
  }
  for (const id of facts.missingNodeIds)
    refusals.push({ code: 'node_not_found', message: `No node with ID ${id} exists in this account.` });
  const memberNames = new Set(facts.members.map((m) => m.hostname));
  for (const n of facts.nodes) {
    const who = `Node ${n.nodeId} (${n.hostname})`;
    if (n.status === 'maintenance') {
      refusals.push({
        code: EXPAND_FAILURE.nodeInMaintenance,
        message: `${who} is in maintenance; end its maintenance first.`,
      });
    } else if (n.held) {
      refusals.push({
        code: 'node_held',
        message: `${who} is on hold; release it with PATCH {"state":"ready"} first.`,
      });
    } else if (n.clusterId !== null) {
      refusals.push({
        code: 'node_in_cluster',
        message:
          n.clusterId === facts.clusterId
            ? `${who} is already a member of cluster ${name}.`
            : `${who} is already a member of cluster ${n.clusterId}.`,
      });
    } else if (n.status !== 'ready') {
      refusals.push({
        code: 'invalid_state',
        message: `${who} is ${n.status}; only ready nodes can be added.`,
      });
    }
    if (!n.drives.some((d) => d.smart_ok)) {
      refusals.push({
        code: 'invalid_state',
        message: `${who} has no drive that passed SMART: it could hold no OSD.`,
      });
    }
    if (fd !== 'host' && !(fd === 'rack' ? n.rack : n.zone)) {
      refusals.push({
        code: 'insufficient_failure_domains',
        message: `${who} has no ${fd} label; cluster ${name} places copies across ${fd}s, so every host needs one.`,
      });
    }
    if (memberNames.has(n.hostname)) {
      refusals.push({
        code: 'invalid_state',
        message: `${who}: cluster ${name} already has a host named ${n.hostname}; Ceph needs distinct host names.`,
      });
    }
  }
  const hostnames = facts.nodes.map((n) => n.hostname);
  const dup = hostnames.find((h, i) => hostnames.indexOf(h) !== i);
  if (dup)
    refusals.push({ code: 'invalid_state', message: `Two nodes are named ${dup}; Ceph needs distinct host names.` });
  for (const m of facts.members) {
    if (m.status === 'maintenance') {
      refusals.push({
        code: EXPAND_FAILURE.nodeInMaintenance,
        message: `Host ${m.hostname} (${m.nodeId}) of cluster ${name} is in maintenance: its OSDs are stopped, so moving data now would leave PGs degraded longer. End its maintenance first.`,
      });
    }
  }

  const hosts: ExpandHost[] = facts.nodes.map((n) => ({
    nodeId: n.nodeId,
    hostname: n.hostname,
    ipAddress: n.ipAddress,
    rack: n.rack,
    zone: n.zone,
    osdDevices: n.drives.filter((d) => d.smart_ok).map((d) => d.device),
    skippedDevices: n.drives.filter((d) => !d.smart_ok).map((d) => d.device),
  }));

  // Capacity after the move: the data spreads over the old OSDs that hold data and the new ones.
  const used = facts.osds.reduce((s, o) => s + o.used_gb, 0);
  const capacityNow = facts.osds.filter((o) => o.crush_weight > 0).reduce((s, o) => s + o.capacity_gb, 0);
  const newDrives = facts.nodes.flatMap((n) => n.drives.filter((d) => d.smart_ok));
  const capacityAdded = newDrives.reduce((s, d) => s + d.size_gb, 0);
  const capacityAfter = capacityNow + capacityAdded;
  const ratioNow = capacityNow > 0 ? used / capacityNow : 0;
  const ratioAfter = capacityAfter > 0 ? used / capacityAfter : 0;
  if (capacityAfter > 0 && ratioAfter >= nearfull) {
    // How much more raw capacity would bring the cluster under nearfull.
    const short = Math.ceil(used / nearfull - capacityAfter);
    refusals.push({
      code: EXPAND_FAILURE.insufficientCapacity,
      message:
        `After adding ${capacityAdded} GB the cluster ${name} would still be ${pct(ratioAfter)} full ` +
        `(${used} GB used of ${capacityAfter} GB raw), at or above the nearfull ratio ${pct(nearfull)}: backfill would stall as backfill_toofull. ` +
        `Add at least ${short} GB more raw capacity, or free space first.`,
    });
  }

  const existingWeight = facts.osds.reduce((s, o) => s + o.crush_weight, 0);
  const addedWeight = newDrives.reduce((s, d) => s + fullWeightOf(d.size_gb), 0);
  const schedule = weightSchedule(existingWeight, addedWeight, maxMisplaced);
  const all = hosts.map((h) => h.hostname).join(', ');
  const osdCount = hosts.reduce((s, h) => s + h.osdDevices.length, 0);

  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Read cluster ${name} and the nodes ${all}; refuse what this plan refuses.`,
      checks: [
        'cluster HEALTH_OK or HEALTH_WARN',
        'every node ready, not held, in no cluster, not in maintenance',
        'no member host in maintenance',
        `every node labelled for failure domain ${fd}`,
        `raw use after the move below nearfull (${pct(nearfull)})`,
      ],
    },
    {
      name: 'mark_provisioning',
      description: `Nodes ${all} become members of ${name}, provisioning.`,
      checks: [],
    },
    {
      name: 'power_on',
      description: `Power on ${all} where off (remembered: powered off again if nothing was installed).`,
      checks: ['BMC reports on'],
    },
    {
      name: 'wait_ssh',
      description: `Wait for SSH on ${all}, host keys verified.`,
      checks: ['SSH answers, host key pinned'],
    },
    {
      name: 'add_hosts',
      description: `Add ${all} to the cluster${fd !== 'host' ? ` under their ${fd} buckets` : ''}.`,
      checks: ['the orchestrator lists each host'],
    },
    {
      name: 'create_osds',
      description: `Create ${osdCount} OSDs at CRUSH weight 0 (osd_crush_initial_weight 0): ${hosts.map((h) => `${h.hostname}: ${h.osdDevices.join(', ') || 'none'}`).join('; ')}. No data moves yet.`,
      checks: ['Ceph lists the device as available', 'the new OSD reads CRUSH weight 0'],
    },
    {
      name: 'raise_weights',
      description:
        `Raise the new OSDs' CRUSH weights in ${schedule.length} step(s) to their full weight (${schedule.map((s) => s.fraction).join(' → ')}), ` +
        `each misplacing at most ${pct(maxMisplaced)} of the objects (target_max_misplaced_ratio); before each step the cluster must not be HEALTH_ERR and the previous step's backfill must have settled. Pausable between steps.`,
      checks: ['not HEALTH_ERR', 'PGs active+clean and pg_temp empty before the next step'],
    },
    {
      name: 'record_state',
      description: "Record the cluster's OSDs and health; the new nodes become online members.",
      checks: [],
    },
  ];

  return {
    type: 'cluster.expand',
    would_run: refusals.length === 0,
    refusals,
    steps,
    hosts,
    schedule,
    facts: {
      cluster_id: facts.clusterId,
      cluster_name: name,
      failure_domain: fd,
      hosts: hosts.map((h) => ({ node_id: h.nodeId, hostname: h.hostname, osd_devices: h.osdDevices })),
      used_gb: used,
      capacity_gb_before: capacityNow,
      capacity_gb_added: capacityAdded,
      capacity_gb_after: capacityAfter,
      used_ratio_before: Math.round(ratioNow * 1e4) / 1e4,
      used_ratio_after: Math.round(ratioAfter * 1e4) / 1e4,
      nearfull_ratio: nearfull,
      max_misplaced_ratio: maxMisplaced,
      crush_weight_before: Math.round(existingWeight * 1e5) / 1e5,
      crush_weight_added: Math.round(addedWeight * 1e5) / 1e5,
      weight_steps: schedule,
    },
  };
}
