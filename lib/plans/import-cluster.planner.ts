import type { PlanRefusal } from './plan';
import type { CreateClusterFacts } from './create-cluster.planner';

/**
 * Adopting an existing Ceph cluster (POST /v1/clusters/import): pure decisions over what the API
 * accepted (the members) and what Ceph reported (discovery). Import changes nothing on the
 * cluster; it refuses when NodeFoundry could not manage what it adopts.
 */
/** A member as the import sees it (non-secret facts, from the nodes table). */
export interface ImportMember {
  nodeId: string;
  hostname: string;
}

/**
 * What Ceph says about itself, read through the admin node (activities/import.activities.ts).
 * Compact (bounded by the number of hosts and pools), since it is kept in the workflow's history.
 */
export interface ImportDiscovery {
  fsid: string;
  health: string;
  /** Daemons (mon, mgr, osd) per version, as their metadata reports it ("16.2.15"). */
  versionCounts: Record<string, number>;
  /** Hosts that run a daemon (daemon metadata) or hold an OSD (CRUSH), sorted. */
  cephHosts: string[];
  osdCount: number;
  pools: { name: string; type: 'replicated' | 'erasure'; size: number; crush_rule_id: number }[];
  crushRules: { id: number; name: string; failure_domain: string }[];
  monsInQuorum: string[];
  monsTotal: number;
}

export interface ImportLayout {
  /** The version most daemons run; the cluster's recorded ceph_version. */
  cephVersion: string;
  /** Other versions some daemons run (a cluster mid-upgrade), most common first. */
  otherVersions: string[];
  /** From the CRUSH rules the replicated pools use (the most common), else host. */
  failureDomain: 'host' | 'rack' | 'zone';
  /** The most common size of the replicated pools, else 3. */
  replicationFactor: number;
  /** Members that run no Ceph daemon yet (kept as members: future OSD hosts). */
  idleMembers: string[];
  /** Ceph host → member node id. */
  nodeOfHost: Record<string, string>;
}

/** Distinct values, most frequent first (ties: first seen first). */
function byFrequency<T>(counts: Map<T, number>): T[] {
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([v]) => v);
}

function mostCommon<T>(values: T[]): T[] {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return byFrequency(counts);
}

/**
 * Refusals: a Ceph host that is none of the members (NodeFoundry could not reach its daemons to
 * reboot or upgrade them), a cluster already imported under another id (fsidTakenBy), no daemon
 * metadata at all. Otherwise the layout to record.
 */
export function importClusterPlan(
  members: ImportMember[],
  d: ImportDiscovery,
  fsidTakenBy: string | null,
): { refusals: PlanRefusal[]; layout: ImportLayout | null } {
  const refusals: PlanRefusal[] = [];
  if (fsidTakenBy) {
    refusals.push({
      code: 'already_imported',
      message: `Ceph cluster ${d.fsid} is already managed as ${fsidTakenBy}.`,
    });
  }
  // Exact names, as everywhere else (OSD rows, host SSH targets): the node's hostname must be the
  // name Ceph's daemons and CRUSH use for the host.
  const nodeOfName = new Map(members.map((m) => [m.hostname, m.nodeId]));
  const unknown = d.cephHosts.filter((h) => !nodeOfName.has(h));
  if (unknown.length > 0) {
    refusals.push({
      code: 'unknown_hosts',
      message: `Ceph runs daemons on ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not among node_ids: register ${unknown.length === 1 ? 'it' : 'them'} and include ${unknown.length === 1 ? 'it' : 'them'}, so that reboots and upgrades can reach every daemon.`,
    });
  }
  if (Object.keys(d.versionCounts).length === 0) {
    refusals.push({
      code: 'invalid_state',
      message: 'Ceph reported no daemon metadata: the cluster has no mon, mgr or OSD NodeFoundry could manage.',
    });
  }
  if (refusals.length > 0) return { refusals, layout: null };

  const versions = byFrequency(new Map(Object.entries(d.versionCounts)));
  const replicated = d.pools.filter((p) => p.type === 'replicated' && !p.name.startsWith('.'));
  const ruleDomain = new Map(d.crushRules.map((r) => [r.id, r.failure_domain]));
  const domains = mostCommon(
    replicated
      .map((p) => ruleDomain.get(p.crush_rule_id))
      .filter((x): x is string => x === 'host' || x === 'rack' || x === 'zone'),
  );
  const sizes = mostCommon(replicated.map((p) => p.size));
  const nodeOfHost: Record<string, string> = {};
  for (const h of d.cephHosts) nodeOfHost[h] = nodeOfName.get(h)!;
  const used = new Set(Object.values(nodeOfHost));
  return {
    refusals,
    layout: {
      cephVersion: versions[0]!,
      otherVersions: versions.slice(1),
      failureDomain: (domains[0] as ImportLayout['failureDomain'] | undefined) ?? 'host',
      replicationFactor: sizes[0] ?? 3,
      idleMembers: members.filter((m) => !used.has(m.nodeId)).map((m) => m.hostname),
      nodeOfHost,
    },
  };
}

/**
 * The API's checks of an import request, on the nodes read (and locked) in its transaction: every
 * node exists, is ready, not held, in no cluster; host names distinct; the name free.
 */
export function importRequestRefusals(facts: CreateClusterFacts, name: string): PlanRefusal[] {
  const refusals: PlanRefusal[] = [];
  for (const id of facts.missingNodeIds)
    refusals.push({ code: 'node_not_found', message: `No node with ID ${id} exists in this account.` });
  if (facts.nameTakenBy)
    refusals.push({ code: 'name_taken', message: `A cluster named ${name} already exists (${facts.nameTakenBy}).` });
  for (const n of facts.nodes) {
    if (n.held)
      refusals.push({
        code: 'node_held',
        message: `Node ${n.nodeId} (${n.hostname}) is on hold; release it with PATCH {"state":"ready"} first.`,
      });
    if (n.clusterId !== null) {
      refusals.push({
        code: 'node_in_cluster',
        message: `Node ${n.nodeId} (${n.hostname}) is already a member of cluster ${n.clusterId}.`,
      });
    } else if (n.status !== 'ready') {
      refusals.push({
        code: 'invalid_state',
        message: `Node ${n.nodeId} (${n.hostname}) is ${n.status}; register it and wait until it is ready (its SSH host key pinned) before importing.`,
      });
    }
  }
  const hostnames = facts.nodes.map((n) => n.hostname);
  const dup = hostnames.find((h, i) => hostnames.indexOf(h) !== i);
  if (dup)
    refusals.push({ code: 'invalid_state', message: `Two nodes are named ${dup}; Ceph knows each host by one name.` });
  return refusals;
}
