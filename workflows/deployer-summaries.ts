/**
 * What each deployer really runs, as the activity summaries of cluster creation and deletion say it
 * (docs/clusters.md §Deployers). Summaries are not part of a workflow's determinism: recorded
 * histories replay whatever these say.
 */
export type Deployment = 'packages' | 'cephadm';

export function deployerSummaries(deployment: Deployment | undefined) {
  if (deployment === 'cephadm') {
    return {
      bootstrap: (host: string) => `cephadm bootstrap on ${host}`,
      addHost: (host: string) => `ceph orch host add ${host}`,
      placeDaemons: (type: 'mon' | 'mgr', hosts: string[]) => `ceph orch apply ${type} (${hosts.join(', ')})`,
      devices: (host: string) => `ceph orch device ls ${host}`,
      createOsd: (host: string, device: string) => `ceph orch daemon add osd ${host}:/dev/${device}`,
      stopHost: (host: string) => `cephadm rm-cluster on ${host}`,
    };
  }
  return {
    bootstrap: (host: string) => `Ceph packages, first mon (ceph-mon --mkfs) and mgr on ${host}`,
    addHost: (host: string) => `Ceph packages, ceph.conf and keyrings on ${host}`,
    placeDaemons: (type: 'mon' | 'mgr', hosts: string[]) =>
      `${type}s on ${hosts.join(', ')} (systemctl enable --now ceph-${type}@<host>)`,
    devices: (host: string) => `lsblk and blkid on ${host}`,
    createOsd: (host: string, device: string) => `ceph-volume raw prepare/activate ${host}:/dev/${device}`,
    stopHost: (host: string) => `stop ceph units and remove /var/lib/ceph, /etc/ceph on ${host}`,
  };
}
