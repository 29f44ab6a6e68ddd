import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

export type FailureDomain = 'host' | 'rack' | 'zone';

export interface ClusterDrive {
  device: string;
  size_gb: number;
  type: string;
  smart_ok: boolean;
}

/** A node as the cluster planner sees it (non-secret facts, from the nodes table). */
export interface ClusterNodeFacts {
  nodeId: string;
  hostname: string;
  ipAddress: string;
  status: string;
  held: boolean;
  clusterId: string | null;
  rack: string | null;
  zone: string | null;
  drives: ClusterDrive[];
}

export interface CreateClusterFacts {
  /** The cluster being created (real run), or null (dry run before anything exists). */
  clusterId: string | null;
  /** Another cluster of this account and environment with the requested name. */
  nameTakenBy: string | null;
  /** In the order of the request's node_ids; the first one bootstraps the cluster. */
  nodes: ClusterNodeFacts[];
  /** Requested ids that are no node of this account and environment. */
  missingNodeIds: string[];
}

export interface CreateClusterParams {
  name: string;
  nodeIds: string[];
  cephVersion: string;
  failureDomain: FailureDomain;
  replicationFactor: number;
  /** How the cluster is deployed (default packages): what the plan says each step runs. */
  deployment?: 'packages' | 'cephadm';
  /** Dry runs only: the environment whose nodes are read. */
  environment?: 'live' | 'sandbox';
}

export interface ClusterHostLayout {
  nodeId: string;
  hostname: string;
  ipAddress: string;
  rack: string | null;
  zone: string | null;
  /** The failure domain bucket the host lands in. */
  domain: string;
  /** Healthy drives (SMART passed) an OSD goes on; Ceph may still refuse some (see docs/clusters.md). */
  osdDevices: string[];
  /** Drives left out because SMART did not pass. */
  skippedDevices: string[];
}

export interface ClusterLayout {
  adminHost: string;
  hosts: ClusterHostLayout[];
  mons: string[];
  mgrs: string[];
  crushRule: string;
  failureDomains: string[];
  minSize: number;
}

/** The CRUSH rule NodeFoundry creates for a failure domain. */
export function crushRuleName(fd: FailureDomain): string {
  return `nf-replicated-${fd}`;
}

function domainOf(n: ClusterNodeFacts, fd: FailureDomain): string | null {
  return fd === 'host' ? n.hostname : fd === 'rack' ? n.rack : n.zone;
}

/**
 * Mons (3, or 5 from 5 nodes) and mgrs (2, or 3 from 5 nodes) spread across failure domains: hosts
 * are taken round-robin over the domains, so losing one rack never takes the mon majority with it
 * when there are enough racks. The first node (bootstrap) always carries a mon and the active mgr.
 */
export function layoutOf(nodes: ClusterNodeFacts[], params: CreateClusterParams): ClusterLayout {
  const fd = params.failureDomain;
  const groups = new Map<string, ClusterNodeFacts[]>();
  for (const n of nodes) {
    const d = domainOf(n, fd) ?? `(no ${fd})`;
    groups.set(d, [...(groups.get(d) ?? []), n]);
  }
  const spread: ClusterNodeFacts[] = [];
  const queues = [...groups.values()].map((g) => [...g]);
  while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) spread.push(q.shift()!);
  const monCount = nodes.length >= 5 ? 5 : 3;
  const mgrCount = nodes.length >= 5 ? 3 : 2;
  const mons = spread.slice(0, monCount).map((n) => n.hostname);
  const r = params.replicationFactor;
  return {
    adminHost: nodes[0]?.hostname ?? '',
    hosts: nodes.map((n) => ({
      nodeId: n.nodeId,
      hostname: n.hostname,
      ipAddress: n.ipAddress,
      rack: n.rack,
      zone: n.zone,
      domain: domainOf(n, fd) ?? '',
      osdDevices: n.drives.filter((d) => d.smart_ok).map((d) => d.device),
      skippedDevices: n.drives.filter((d) => !d.smart_ok).map((d) => d.device),
    })),
    mons,
    mgrs: mons.slice(0, mgrCount),
    crushRule: crushRuleName(fd),
    failureDomains: [...groups.keys()].filter((d) => !d.startsWith('(no ')).sort(),
    minSize: r - Math.floor(r / 2),
  };
}

/**
 * Cluster creation as a plan (SPEC §3): the refusals of the preflight, the ordered steps, where the
 * mons and mgrs go, which devices become OSDs. The workflow runs this very layout, and a dry run
 * returns it, so the two cannot disagree.
 */
export function createClusterPlan(
  facts: CreateClusterFacts,
  params: CreateClusterParams,
): OperationPlan<'cluster.create'> & { layout: ClusterLayout } {
  const refusals: PlanRefusal[] = [];
  const fd = params.failureDomain;
  if (facts.nameTakenBy)
    refusals.push({
      code: 'name_taken',
      message: `A cluster named ${params.name} already exists (${facts.nameTakenBy}).`,
    });
  for (const id of facts.missingNodeIds)
    refusals.push({ code: 'node_not_found', message: `No node with ID ${id} exists in this account.` });
  for (const n of facts.nodes) {
    if (n.held)
      refusals.push({
        code: 'node_held',
        message: `Node ${n.nodeId} (${n.hostname}) is on hold; release it with PATCH {"state":"ready"} first.`,
      });
    if (n.clusterId !== null && n.clusterId !== facts.clusterId) {
      refusals.push({
        code: 'node_in_cluster',
        message: `Node ${n.nodeId} (${n.hostname}) is already a member of cluster ${n.clusterId}.`,
      });
    } else if (n.status !== 'ready') {
      refusals.push({
        code: 'invalid_state',
        message: `Node ${n.nodeId} (${n.hostname}) is ${n.status}; only ready nodes can form a cluster.`,
      });
    }
    if (!n.drives.some((d) => d.smart_ok)) {
      refusals.push({
        code: 'invalid_state',
        message: `Node ${n.nodeId} (${n.hostname}) has no drive that passed SMART: it could hold no OSD.`,
      });
    }
    if (fd !== 'host' && !domainOf(n, fd)) {
      refusals.push({
        code: 'insufficient_failure_domains',
        message: `Node ${n.nodeId} (${n.hostname}) has no ${fd} label; failure domain "${fd}" needs one on every node.`,
      });
    }
  }
  const hostnames = facts.nodes.map((n) => n.hostname);
  const dup = hostnames.find((h, i) => hostnames.indexOf(h) !== i);
  if (dup)
    refusals.push({ code: 'invalid_state', message: `Two nodes are named ${dup}; Ceph needs distinct host names.` });
  const layout = layoutOf(facts.nodes, params);
  const domains = layout.failureDomains.length;
  if (facts.nodes.length + facts.missingNodeIds.length < 3) {
    refusals.push({ code: 'validation_error', message: 'A cluster needs at least 3 distinct nodes.' });
  }
  if (params.replicationFactor > domains && facts.missingNodeIds.length === 0) {
    refusals.push({
      code: 'insufficient_failure_domains',
      message: `replication_factor ${params.replicationFactor} needs at least ${params.replicationFactor} failure domains of type "${fd}"; these nodes span ${domains} (${layout.failureDomains.join(', ') || 'none'}).`,
    });
  }

  const osdTotal = layout.hosts.reduce((s, h) => s + h.osdDevices.length, 0);
  const others = layout.hosts.slice(1).map((h) => h.hostname);
  const cephadm = params.deployment === 'cephadm';
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Re-check the ${facts.nodes.length} nodes: this account and environment, ready, not held, in no other cluster; replication ${params.replicationFactor} ≤ ${domains} ${fd} failure domains.`,
      checks: [
        'nodes ready',
        'no node held',
        'no node in another cluster',
        `replication_factor ≤ failure domains (${fd})`,
      ],
    },
    { name: 'mark_provisioning', description: 'Nodes become provisioning members of the cluster.', checks: [] },
    {
      name: 'power_on',
      description: 'IPMI chassis power on for every node that is off, poll until on.',
      checks: ['BMC reports on within the bound'],
    },
    {
      name: 'wait_ssh',
      description: 'Wait for SSH on every node with its pinned host key.',
      checks: ['host key matches the pin'],
    },
    {
      name: 'bootstrap',
      description: `${cephadm ? 'cephadm bootstrap' : 'Ceph packages verified or installed, ceph-mon --mkfs'} (${params.cephVersion}) on ${layout.adminHost}: first mon and mgr; pool size ${params.replicationFactor}, min_size ${layout.minSize}.`,
      checks: ['ceph fsid answers'],
    },
    {
      name: 'add_hosts',
      description: others.length
        ? cephadm
          ? `ceph orch host add ${others.join(', ')}.`
          : `Ceph packages, ceph.conf and keyrings on ${others.join(', ')}.`
        : 'No other hosts.',
      checks: [cephadm ? 'every host listed by ceph orch host ls' : 'every host recorded in the cluster'],
    },
    {
      name: 'place_mons',
      description: cephadm
        ? `ceph orch apply mon on ${layout.mons.join(', ')}.`
        : `ceph-mon@<host> on ${layout.mons.join(', ')} (ceph-mon --mkfs, one at a time, each joins the quorum).`,
      checks: [`${layout.mons.length} mons running`],
    },
    {
      name: 'place_mgrs',
      description: cephadm
        ? `ceph orch apply mgr on ${layout.mgrs.join(', ')}.`
        : `ceph-mgr@<host> on ${layout.mgrs.join(', ')}.`,
      checks: [`${layout.mgrs.length} mgrs running`],
    },
    {
      name: 'create_osds',
      description: `${cephadm ? 'ceph orch daemon add osd' : 'ceph-volume raw prepare/activate'} on ${osdTotal} healthy drives: ${layout.hosts.map((h) => `${h.hostname}: ${h.osdDevices.join(', ') || 'none'}`).join('; ')}.`,
      checks: [
        'drive passed SMART',
        'Ceph lists the device as available (not the boot disk, no partitions, no LVM)',
        'OSD id read back from the OSD map',
      ],
    },
    {
      name: 'create_crush_rule',
      description: `${fd === 'host' ? '' : `Place hosts under their ${fd} buckets; `}ceph osd crush rule create-replicated ${layout.crushRule} default ${fd}.`,
      checks: [`rule ${layout.crushRule} chooses across ${fd}`],
    },
    {
      name: 'wait_ready',
      description:
        'Wait until HEALTH_OK and ready: every OSD up and in, mons in quorum, a mgr available, every PG active+clean.',
      checks: [
        'HEALTH_OK',
        `OSDs up = in = ${osdTotal}`,
        `${layout.mons.length} mons in quorum`,
        'mgr available',
        'all PGs active+clean',
      ],
    },
    { name: 'record_state', description: 'Record OSDs and health; cluster HEALTH_OK, nodes active.', checks: [] },
  ];
  return {
    type: 'cluster.create',
    would_run: refusals.length === 0,
    refusals,
    steps,
    layout,
    facts: {
      name: params.name,
      ceph_version: params.cephVersion,
      failure_domain: fd,
      replication_factor: params.replicationFactor,
      min_size: layout.minSize,
      admin_host: layout.adminHost,
      mons: layout.mons,
      mgrs: layout.mgrs,
      crush_rule: layout.crushRule,
      failure_domains: layout.failureDomains,
      osd_devices: Object.fromEntries(layout.hosts.map((h) => [h.hostname, h.osdDevices])),
      skipped_devices: Object.fromEntries(
        layout.hosts.filter((h) => h.skippedDevices.length).map((h) => [h.hostname, h.skippedDevices]),
      ),
      nodes: facts.nodes.map((n) => ({
        id: n.nodeId,
        hostname: n.hostname,
        status: n.status,
        held: n.held,
        rack: n.rack,
        zone: n.zone,
      })),
    },
  };
}
