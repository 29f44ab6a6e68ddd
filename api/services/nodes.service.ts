import { utils as sshUtils } from 'ssh2';
import type { Transaction } from 'kysely';
import type { Database, Node } from '../../db/database';
import { getClusterById } from '../../db/repositories/clusters.repository';
import * as nodes from '../../db/repositories/nodes.repository';
import { lockHolders, runningOperationFor } from '../../db/repositories/operations.repository';
import { rackSandboxMachine } from '../../drivers/sandbox';
import { forbiddenAddressReason } from '../../lib/addresses';
import { newId } from '../../lib/ids';
import { FAILURE } from '../../lib/failures';
import { encryptSecret } from '../../lib/secrets';
import type { ApiDeps, AuthState } from '../context';
import { ApiError } from '../errors';
import { normalizeTlsFingerprint } from '../../lib/tls-fingerprint';
import {
  DEFAULT_BMC_PORT,
  type EnterMaintenanceBody,
  type RebootNodeBody,
  type RegisterBmcBody,
  type RegisterNodeBody,
} from '../schemas/nodes.schemas';
import { canonicalIp } from '../schemas/validation';
import { settleIfClosed, startOperation } from './operations.service';
import { synchronousRefusal } from './plan.service';

/** A node as the API shows it. Credentials (encrypted key and password) are never part of it. */
export interface NodeView {
  id: string;
  hostname: string;
  status: string;
  state: 'hold' | 'ready';
  held: boolean;
  status_reason: string | null;
  cluster_id: string | null;
  ip_address: string;
  ssh_port: number;
  ssh_user: string;
  ipmi_address: string;
  ipmi_port: number;
  ipmi_username: string;
  bmc: { protocol: string; address: string; port: number; username: string; tls_fingerprint: string | null };
  ssh_host_key_fingerprint: string | null;
  cpu_cores: number | null;
  ram_gb: number | null;
  drives: Node['drives'];
  rack: string | null;
  zone: string | null;
  current_operation_id: string | null;
  created_at: string;
  updated_at: string;
}

export function nodeView(n: Node, currentOperationId: string | null): NodeView {
  return {
    id: n.id,
    hostname: n.hostname,
    status: n.status,
    state: n.held ? 'hold' : 'ready',
    held: n.held,
    status_reason: n.status_reason,
    cluster_id: n.cluster_id,
    ip_address: n.ip_address,
    ssh_port: n.ssh_port,
    ssh_user: n.ssh_user,
    ipmi_address: n.ipmi_address,
    ipmi_port: n.ipmi_port,
    ipmi_username: n.ipmi_username,
    bmc: {
      protocol: n.bmc_protocol,
      address: n.ipmi_address,
      port: n.ipmi_port,
      username: n.ipmi_username,
      tls_fingerprint: n.bmc_tls_fingerprint,
    },
    ssh_host_key_fingerprint: n.ssh_host_key_fingerprint,
    cpu_cores: n.cpu_cores,
    ram_gb: n.ram_gb,
    drives: n.drives,
    rack: n.rack,
    zone: n.zone,
    current_operation_id: currentOperationId,
    created_at: n.created_at.toISOString(),
    updated_at: n.updated_at.toISOString(),
  };
}

export async function nodeViews(deps: Pick<ApiDeps, 'db'>, rows: Node[]): Promise<NodeView[]> {
  const current = await nodes.currentOperationIds(
    deps.db,
    rows.map((n) => n.id),
  );
  return rows.map((n) => nodeView(n, current.get(n.id) ?? null));
}

export function nodeNotFound(id: string): ApiError {
  return new ApiError('node_not_found', `No node with ID ${id} exists in this account.`);
}

/** getNodeOr404 with the version of the row read (for a start's `readPrecheck`). */
export async function getNodeVersionOr404(
  deps: Pick<ApiDeps, 'db'>,
  auth: AuthState,
  id: string,
): Promise<{ node: Node; version: string }> {
  const read = await nodes.getScopedNodeVersion(deps.db, auth, id);
  if (!read) throw nodeNotFound(id);
  return read;
}

export async function getNodeOr404(deps: Pick<ApiDeps, 'db'>, auth: AuthState, id: string): Promise<Node> {
  const node = await nodes.getScopedNode(deps.db, auth, id);
  if (!node) throw nodeNotFound(id);
  return node;
}

/**
 * Accepts only an unencrypted private key ssh2 can use: a passphrase-protected key, a public key
 * or garbage is a 400 now rather than an ssh_auth_failed during inventory.
 */
export function checkPrivateKey(text: string): void {
  let parsed: ReturnType<typeof sshUtils.parseKey>;
  try {
    parsed = sshUtils.parseKey(text);
  } catch {
    parsed = new Error('unparseable');
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) {
    const encrypted = key instanceof Error && /passphrase|encrypted/i.test(key.message);
    throw new ApiError(
      'validation_error',
      encrypted
        ? 'ssh_private_key is encrypted: provide an unencrypted private key (no passphrase).'
        : 'ssh_private_key is not a private key ssh2 can read (OpenSSH or PEM: RSA, ECDSA, Ed25519).',
      { field: 'ssh_private_key' },
    );
  }
  if (!key.isPrivateKey()) {
    throw new ApiError('validation_error', 'ssh_private_key is a public key; the private key is needed.', {
      field: 'ssh_private_key',
    });
  }
}

const UNIQUE_CONSTRAINT_FIELDS: Record<string, 'ip_address' | 'ipmi_address'> = {
  nodes_ip_unique: 'ip_address',
  nodes_ipmi_unique: 'ipmi_address',
  nodes_host_address_unique: 'ip_address',
  nodes_bmc_address_unique: 'ipmi_address',
  nodes_host_address_loopback_unique: 'ip_address',
  nodes_bmc_address_loopback_unique: 'ipmi_address',
  sandbox_machines_bmc_unique: 'ipmi_address',
};

function uniqueViolationField(err: unknown): 'ip_address' | 'ipmi_address' | undefined {
  const e = err as { code?: unknown; constraint?: unknown };
  return e && e.code === '23505' && typeof e.constraint === 'string'
    ? UNIQUE_CONSTRAINT_FIELDS[e.constraint]
    : undefined;
}

/**
 * The conflicting node is named only when the caller can see it: live addresses are unique across
 * accounts, and another account's node id is none of the caller's business.
 */
async function visibleNodeId(
  deps: Pick<ApiDeps, 'db'>,
  auth: AuthState,
  nodeId: string | undefined,
): Promise<string | null> {
  if (!nodeId) return null;
  const node = await nodes.getScopedNode(deps.db, auth, nodeId);
  return node ? node.id : null;
}

function addressInUse(field: 'ip_address' | 'ipmi_address', address: string, nodeId: string | null): ApiError {
  return new ApiError(
    'address_in_use',
    `${field} ${address} is already used by ${nodeId ? `node ${nodeId}` : 'another node'}: two records must never drive one machine.`,
    { field, ...(nodeId ? { node_id: nodeId } : {}) },
  );
}

/**
 * The BMC of a registration body: `bmc`, or the seed's flat ipmi_* fields, which mean protocol
 * ipmi (the schema admits exactly one of the two shapes).
 */
function bmcOf(body: RegisterNodeBody): RegisterBmcBody {
  if (body.bmc) return body.bmc;
  return {
    protocol: 'ipmi',
    address: body.ipmi_address!,
    ...(body.ipmi_port !== undefined ? { port: body.ipmi_port } : {}),
    username: body.ipmi_username!,
    password: body.ipmi_password!,
    tls_fingerprint: null,
  };
}

export interface RegisteredNode extends NodeView {
  operation_id: string;
}

/**
 * Registers a node and starts its inventory. The node row (credentials encrypted with the
 * configured key) is written in the operation's transaction, so it exists before the workflow
 * starts and disappears with the operation if anything fails; the workflow gets ids only.
 */
export async function registerNode(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  body: RegisterNodeBody,
): Promise<RegisteredNode> {
  checkPrivateKey(body.ssh_private_key);
  const nodeId = newId('node');
  const scope = nodes.addressScope(auth.environment, auth.accountId);
  const ip = { address: canonicalIp(body.ip_address), port: body.ssh_port };
  const bmc = bmcOf(body);
  const ipmi = { address: canonicalIp(bmc.address), port: bmc.port ?? DEFAULT_BMC_PORT[bmc.protocol] };
  if (auth.environment === 'live' && !deps.config.allowLocalNodeAddresses) {
    // Nothing is contacted for a sandbox node; a live one is, by the worker, from inside our network.
    for (const [field, address] of [
      ['ip_address', ip.address],
      ['ipmi_address', ipmi.address],
    ] as const) {
      const why = forbiddenAddressReason(address);
      if (why) {
        throw new ApiError(
          'address_not_allowed',
          `${field} ${address} is ${why}: NodeFoundry does not contact it for a live node.`,
          { field },
        );
      }
    }
  }

  let operationId: string;
  try {
    const op = await startOperation(deps, {
      accountId: auth.accountId,
      environment: auth.environment,
      type: 'node.register',
      requestId,
      primaryResourceId: nodeId,
      nodeId,
      lockResourceIds: [nodeId],
      params: { hostname: body.hostname, ip_address: ip.address, ipmi_address: ipmi.address },
      input: (opId) => ({ operationId: opId, accountId: auth.accountId, nodeId }),
      summary: `Register node ${body.hostname} (${ip.address})`,
      precheck: async (trx) => {
        const conflict = await nodes.findAddressConflict(trx, scope, ip, ipmi);
        if (conflict) {
          const address = conflict.field === 'ip_address' ? ip.address : ipmi.address;
          throw addressInUse(conflict.field, address, await visibleNodeId({ db: trx }, auth, conflict.node_id));
        }
      },
      onCreate: async (trx) => {
        await nodes.insertNode(trx, {
          id: nodeId,
          account_id: auth.accountId,
          environment: auth.environment,
          address_scope: scope,
          hostname: body.hostname,
          ip_address: ip.address,
          ssh_port: ip.port,
          ssh_user: body.ssh_user,
          ssh_private_key_enc: encryptSecret(deps.config.secretKey, body.ssh_private_key),
          ipmi_address: ipmi.address,
          ipmi_port: ipmi.port,
          ipmi_username: bmc.username,
          ipmi_password_enc: encryptSecret(deps.config.secretKey, bmc.password),
          bmc_protocol: bmc.protocol,
          bmc_tls_fingerprint: bmc.tls_fingerprint ? normalizeTlsFingerprint(bmc.tls_fingerprint) : null,
          status: 'pending',
          rack: body.rack ?? null,
          zone: body.zone ?? null,
        });
        if (auth.environment === 'sandbox') {
          // The simulated machine is racked with the node: same transaction, so neither exists alone.
          await rackSandboxMachine(
            trx,
            {
              accountId: auth.accountId,
              hostname: body.hostname,
              ipAddress: ip.address,
              ipmiAddress: ipmi.address,
              bmcUsername: bmc.username,
              bmcPassword: bmc.password,
            },
            deps.config.sandboxSpeed,
          );
        }
      },
    });
    operationId = op.id;
  } catch (err) {
    // Two registrations of one address racing past the precheck: the unique constraint decides.
    const field = uniqueViolationField(err);
    if (!field) throw err;
    const conflict = await nodes.findAddressConflict(deps.db, scope, ip, ipmi);
    const nodeId = await visibleNodeId(deps, auth, conflict?.field === field ? conflict.node_id : undefined);
    throw addressInUse(field, field === 'ip_address' ? ip.address : ipmi.address, nodeId);
  }
  const node = (await nodes.getNodeById(deps.db, nodeId))!;
  const current = await runningOperationFor(deps.db, nodeId);
  return { ...nodeView(node, current), operation_id: operationId };
}

export async function setNodeHold(deps: ApiDeps, auth: AuthState, id: string, hold: boolean): Promise<NodeView> {
  const node = await deps.db.transaction().execute(async (trx) => {
    const n = await nodes.getScopedNode(trx, auth, id, true);
    if (!n) throw nodeNotFound(id);
    if (n.held !== hold) await nodes.updateNode(trx, id, { held: hold });
    return (await nodes.getNodeById(trx, id))!;
  });
  return nodeView(node, await runningOperationFor(deps.db, id));
}

/**
 * Deletes a node that is in no cluster and has no running operation. The node row is locked first:
 * an operation that starts concurrently locks the same row in its precheck, so either it sees the
 * node gone (404) or this sees its lock (409), never both proceeding.
 */
export async function deleteNode(deps: ApiDeps, auth: AuthState, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const busyWith = await deps.db.transaction().execute(async (trx) => {
      const n = await nodes.getScopedNode(trx, auth, id, true);
      if (!n) throw nodeNotFound(id);
      if (n.cluster_id) {
        throw new ApiError(
          'invalid_state',
          `Node ${id} is a member of cluster ${n.cluster_id}; remove it from the cluster first.`,
          {
            cluster_id: n.cluster_id,
          },
        );
      }
      const running = await runningOperationFor(trx, id);
      if (running) return running;
      await nodes.deleteNode(trx, id);
      return null;
    });
    if (busyWith === null) return;
    if (attempt === 0 && (await settleIfClosed(deps, busyWith))) continue;
    throw new ApiError('resource_busy', `${id} is busy with operation ${busyWith}.`, {
      operation_id: busyWith,
      resource_id: id,
    });
  }
}

export interface RebootAccepted {
  operation_id: string;
  node_id: string;
  status: 'pending';
}

/** Starts a reboot. Locks the node, and its cluster when it is in one (one operation per cluster). */
export async function rebootNode(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
  body: RebootNodeBody,
): Promise<RebootAccepted> {
  const { node, version } = await getNodeVersionOr404(deps, auth, id);
  const clusterId = node.cluster_id;
  await refuseIfNotOkToStop(deps, auth, requestId, node, body);
  const check = (n: Node | undefined) => {
    if (!n) throw nodeNotFound(id);
    if (n.cluster_id !== clusterId) {
      throw new ApiError('conflict', `Node ${id} changed cluster while the reboot was being requested; retry.`);
    }
    if (n.held)
      throw new ApiError('node_held', `Node ${id} is on hold; release it with PATCH {"state":"ready"} first.`);
    if (n.status === 'maintenance') throw inMaintenance(id, 'rebooted');
    if (n.status !== 'ready' && n.status !== 'online') {
      throw new ApiError('invalid_state', `Node ${id} is ${n.status}; only ready or online nodes can be rebooted.`, {
        status: n.status,
      });
    }
  };
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'node.reboot',
    requestId,
    primaryResourceId: id,
    nodeId: id,
    clusterId,
    lockResourceIds: clusterId ? [id, clusterId] : [id],
    params: { method: body.method, drain_osds: body.drain_osds },
    input: (operationId) => ({
      operationId,
      accountId: auth.accountId,
      nodeId: id,
      method: body.method,
      drainOsds: body.drain_osds,
    }),
    summary: (n) => `Reboot ${node.hostname}${n.cluster ? ` of cluster ${n.cluster.name}` : ''} (${body.method})`,
    precheck: async (trx: Transaction<Database>) => check(await nodes.getScopedNode(trx, auth, id, true)),
    // The same check on the node read above, as one statement while that row is unchanged.
    readPrecheck: { nodes: [{ id, version }], check: () => check(node) },
  });
  return { operation_id: op.id, node_id: id, status: 'pending' };
}

/**
 * A cluster member's reboot is refused with 409 `not_ok_to_stop` before anything starts when Ceph
 * says its OSDs are not ok to stop, read as the dry run reads it (synchronousRefusal). Skipped when
 * the precheck refuses anyway (held, wrong status) or an operation holds the node or its cluster
 * (that answer is 409 resource_busy, and a busy cluster's ok-to-stop says nothing of this reboot).
 */
async function refuseIfNotOkToStop(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  node: Node,
  body: RebootNodeBody,
): Promise<void> {
  if (!node.cluster_id || node.held || (node.status !== 'ready' && node.status !== 'online')) return;
  if ((await lockHolders(deps.db, [node.id, node.cluster_id])).length > 0) return;
  const refusal = await synchronousRefusal(
    deps,
    {
      type: 'node.reboot',
      accountId: auth.accountId,
      resourceId: node.id,
      requestId,
      params: { method: body.method, drainOsds: body.drain_osds },
      summary: `reboot ${node.hostname} (${body.method}): are its OSDs ok to stop?`,
    },
    [FAILURE.notOkToStop],
  );
  if (refusal) throw new ApiError('not_ok_to_stop', refusal.message, { cluster_id: node.cluster_id });
}

/** New work refuses a node in maintenance (issue 13 #1): 409 node_in_maintenance, saying how to end it. */
export function inMaintenance(id: string, verb: string): ApiError {
  return new ApiError(
    'node_in_maintenance',
    `Node ${id} is in maintenance and is not ${verb}; end maintenance first (DELETE /v1/nodes/${id}/maintenance).`,
    { node_id: id },
  );
}

export interface MaintenanceAccepted {
  operation_id: string;
  node_id: string;
  status: 'pending';
}

/**
 * Enters maintenance mode (issue 13 #1): the node, and its cluster when it is a member, are locked for
 * the enter operation only; once it completes the state is the node's status and its record, and no
 * lock is held. A member whose OSDs Ceph says are not ok to stop is refused with 409 not_ok_to_stop
 * before anything starts, as a reboot is.
 */
export async function enterMaintenance(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
  body: EnterMaintenanceBody,
): Promise<MaintenanceAccepted> {
  const { node, version } = await getNodeVersionOr404(deps, auth, id);
  const clusterId = node.cluster_id;
  if (node.status === 'maintenance') throw alreadyInMaintenance(id);
  if (body.power_off && clusterId && (await getClusterById(deps.db, clusterId))?.admin_node_id === id) {
    // NodeFoundry reaches the cluster's Ceph through its admin node: powered off, nothing could
    // unset the noout or watch the cluster (the exit of a host that never came back included).
    throw new ApiError(
      'invalid_state',
      `Node ${id} is the admin node of cluster ${clusterId}: NodeFoundry reaches Ceph through it, so it is not powered off in maintenance. Enter without power_off.`,
      { cluster_id: clusterId },
    );
  }
  if (
    clusterId &&
    !node.held &&
    (node.status === 'ready' || node.status === 'online') &&
    (await lockHolders(deps.db, [node.id, clusterId])).length === 0
  ) {
    const refusal = await synchronousRefusal(
      deps,
      {
        type: 'maintenance.enter',
        accountId: auth.accountId,
        resourceId: node.id,
        requestId,
        params: { powerOff: body.power_off },
        summary: `maintenance of ${node.hostname}: are its OSDs ok to stop?`,
      },
      [FAILURE.notOkToStop],
    );
    if (refusal) throw new ApiError('not_ok_to_stop', refusal.message, { cluster_id: clusterId });
  }
  const check = (n: Node | undefined) => {
    if (!n) throw nodeNotFound(id);
    if (n.cluster_id !== clusterId) {
      throw new ApiError('conflict', `Node ${id} changed cluster while maintenance was being requested; retry.`);
    }
    if (n.held)
      throw new ApiError('node_held', `Node ${id} is on hold; release it with PATCH {"state":"ready"} first.`);
    if (n.status === 'maintenance') throw alreadyInMaintenance(id);
    if (n.status !== 'ready' && n.status !== 'online') {
      throw new ApiError('invalid_state', `Node ${id} is ${n.status}; only ready or online nodes enter maintenance.`, {
        status: n.status,
      });
    }
  };
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'maintenance.enter',
    requestId,
    primaryResourceId: id,
    nodeId: id,
    clusterId,
    lockResourceIds: clusterId ? [id, clusterId] : [id],
    params: { power_off: body.power_off },
    input: (operationId) => ({ operationId, accountId: auth.accountId, nodeId: id, powerOff: body.power_off }),
    summary: (n) =>
      `Enter maintenance on ${node.hostname}${n.cluster ? ` of cluster ${n.cluster.name}` : ''}${body.power_off ? ' (power off)' : ''}`,
    precheck: async (trx: Transaction<Database>) => check(await nodes.getScopedNode(trx, auth, id, true)),
    readPrecheck: { nodes: [{ id, version }], check: () => check(node) },
  });
  return { operation_id: op.id, node_id: id, status: 'pending' };
}

function alreadyInMaintenance(id: string): ApiError {
  return new ApiError('invalid_state', `Node ${id} is already in maintenance.`, { status: 'maintenance' });
}

/**
 * Exits maintenance mode: powers on, waits for SSH and the OSDs, unsets noout, waits for clean PGs.
 * Also when the host never comes back: the operation then completes saying what is left (result
 * `host_back: false`, `left`), the node `offline`. Refused (409 invalid_state) for a node not in maintenance.
 */
export async function exitMaintenance(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  id: string,
): Promise<MaintenanceAccepted> {
  const { node, version } = await getNodeVersionOr404(deps, auth, id);
  const clusterId = node.cluster_id;
  const check = (n: Node | undefined) => {
    if (!n) throw nodeNotFound(id);
    if (n.cluster_id !== clusterId) {
      throw new ApiError('conflict', `Node ${id} changed cluster while the exit was being requested; retry.`);
    }
    if (n.status !== 'maintenance') {
      throw new ApiError('invalid_state', `Node ${id} is ${n.status}, not in maintenance.`, { status: n.status });
    }
  };
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'maintenance.exit',
    requestId,
    primaryResourceId: id,
    nodeId: id,
    clusterId,
    lockResourceIds: clusterId ? [id, clusterId] : [id],
    params: {},
    input: (operationId) => ({ operationId, accountId: auth.accountId, nodeId: id }),
    summary: (n) => `Exit maintenance on ${node.hostname}${n.cluster ? ` of cluster ${n.cluster.name}` : ''}`,
    precheck: async (trx: Transaction<Database>) => check(await nodes.getScopedNode(trx, auth, id, true)),
    readPrecheck: { nodes: [{ id, version }], check: () => check(node) },
  });
  return { operation_id: op.id, node_id: id, status: 'pending' };
}
