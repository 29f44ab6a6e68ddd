import type { ActivityDeps } from './deps';
import type { Node } from '../db/database';
import { findClusterMember, getNodeById } from '../db/repositories/nodes.repository';
import { getClusterById } from '../db/repositories/clusters.repository';
import { decryptSecret } from '../lib/secrets';
import type { BmcTarget, CephDriver, CephTarget, DriverSet, SshTarget } from '../drivers/types';
import { FAILURE, permanent } from './failures';

/**
 * Activities receive ids and resolve credentials here, inside the worker: secrets never enter
 * workflow inputs, results or history (SPEC §4).
 */
export async function loadNode(deps: ActivityDeps, nodeId: string): Promise<Node> {
  const node = await getNodeById(deps.db, nodeId);
  if (!node) throw permanent(FAILURE.nodeNotFound, `Node ${nodeId} does not exist.`);
  return node;
}

export function driversFor(deps: ActivityDeps, node: Pick<Node, 'environment' | 'account_id'>): DriverSet {
  return deps.drivers.for(node.environment, node.account_id);
}

export function bmcTarget(deps: ActivityDeps, node: Node): BmcTarget {
  return {
    address: node.ipmi_address,
    port: node.ipmi_port,
    username: node.ipmi_username,
    password: decryptSecret(deps.config.secretKey, node.ipmi_password_enc),
    protocol: node.bmc_protocol,
    tlsFingerprint: node.bmc_tls_fingerprint,
  };
}

export function sshTarget(deps: Pick<ActivityDeps, 'config'>, node: Node): SshTarget {
  return {
    host: node.ip_address,
    port: node.ssh_port,
    username: node.ssh_user,
    privateKey: decryptSecret(deps.config.secretKey, node.ssh_private_key_enc),
    pinnedFingerprint: node.ssh_host_key_fingerprint,
  };
}

/** The Ceph driver of a cluster: the simulator in the sandbox, the CLI on the admin node when live. */
export async function cephFor(
  deps: ActivityDeps,
  clusterId: string,
  reads: Pick<CephTarget, 'freshPgStats'> = {},
): Promise<CephDriver> {
  const cluster = await getClusterById(deps.db, clusterId);
  if (!cluster) throw permanent(FAILURE.cephUnavailable, `Cluster ${clusterId} does not exist.`);
  if (!cluster.admin_node_id) throw permanent(FAILURE.cephUnavailable, `Cluster ${clusterId} has no admin node.`);
  const admin = await loadNode(deps, cluster.admin_node_id);
  return driversFor(deps, cluster).ceph({
    clusterId,
    admin: sshTarget(deps, admin),
    deployment: cluster.deployment,
    fsid: cluster.fsid,
    ...reads,
  });
}

/** For the live Ceph driver: the SSH target of a cluster's member by its CRUSH host name. */
export function clusterHostResolver(deps: Pick<ActivityDeps, 'db' | 'config'>) {
  return async (clusterId: string, hostname: string): Promise<SshTarget> => {
    const node = await findClusterMember(deps.db, clusterId, hostname);
    if (!node) throw permanent(FAILURE.nodeNotFound, `Cluster ${clusterId} has no node named ${hostname}.`);
    return sshTarget(deps, node);
  };
}
