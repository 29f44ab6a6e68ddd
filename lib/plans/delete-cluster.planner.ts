import type { OperationPlan, PlanStep } from './plan';

export interface DeleteClusterFacts {
  clusterId: string;
  name: string;
  status: string;
  fsid: string | null;
  /** How the cluster is deployed (absent in histories recorded before issue 10: packages). */
  deployment?: 'packages' | 'cephadm';
  nodes: { nodeId: string; hostname: string; status: string; held: boolean }[];
  /** Devices holding OSDs of this cluster, by host (recorded as each OSD was created). */
  osdDevices: Record<string, string[]>;
  pools: string[];
}

/**
 * Cluster deletion as a plan: which hosts are stopped, which devices are wiped, what happens to the
 * nodes. Deletion refuses nothing beyond the API's checks (confirmation header, no running
 * operation): a cluster in any state, ERROR included, can be deleted.
 */
export function deleteClusterPlan(facts: DeleteClusterFacts): OperationPlan<'cluster.delete'> {
  const hosts = facts.nodes.map((n) => n.hostname);
  const devices = Object.entries(facts.osdDevices)
    .filter(([, d]) => d.length > 0)
    .map(([h, d]) => `${h}: ${d.join(', ')}`);
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Read cluster ${facts.name} (${facts.status}) and its ${hosts.length} nodes.`,
      checks: ['X-Confirm-Delete: true', 'no other operation on the cluster or its nodes'],
    },
    { name: 'mark_deleting', description: 'Cluster status DELETING.', checks: [] },
    {
      name: 'power_on',
      description: 'IPMI power on for every node that is off, so its disks can be wiped.',
      checks: ['BMC reports on'],
    },
    { name: 'wait_ssh', description: 'Wait for SSH on every node.', checks: ['host key matches the pin'] },
    {
      name: 'stop_ceph',
      description: `Stop and remove every Ceph daemon on ${hosts.join(', ') || 'no host'} (${facts.deployment === 'cephadm' ? 'cephadm rm-cluster --force' : 'systemctl stop and disable ceph-*@, /var/lib/ceph and /etc/ceph removed'}).`,
      checks: [],
    },
    {
      name: 'zap_devices',
      description: devices.length
        ? `Wipe the OSD devices (ceph-volume lvm zap --destroy): ${devices.join('; ')}.`
        : 'No OSD device was created.',
      checks: ['daemon stopped before its device is wiped'],
    },
    {
      name: 'remove_cluster',
      description: `Forget the cluster, its ${facts.pools.length} pools and OSD records.`,
      checks: [],
    },
    {
      name: 'release_nodes',
      description: `Nodes ${hosts.join(', ')} leave the cluster and return to pending; the cluster is gone (404).`,
      checks: [],
    },
  ];
  return {
    type: 'cluster.delete',
    would_run: true,
    refusals: [],
    steps,
    facts: {
      cluster_id: facts.clusterId,
      name: facts.name,
      status: facts.status,
      nodes: facts.nodes.map((n) => ({ id: n.nodeId, hostname: n.hostname, status: n.status })),
      osd_devices: facts.osdDevices,
      pools: facts.pools,
    },
  };
}
