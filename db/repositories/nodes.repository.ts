import { CompiledQuery, sql } from 'kysely';
import {
  preparedStatement,
  type Executor,
  type NewNode,
  type Node,
  type NodeStatus,
  type NodeUpdate,
} from '../database';
import type { Scope } from './operations.repository';

/** Live machines are one physical fleet; each sandbox account has its own simulated datacenter. */
export function addressScope(environment: 'live' | 'sandbox', accountId: string): string {
  return environment === 'live' ? 'live' : `sandbox:${accountId}`;
}

export async function insertNode(db: Executor, node: NewNode): Promise<void> {
  await db.insertInto('nodes').values(node).execute();
}

/** Loopback: several machines of a lab on one host, told apart by port (migration 0003). */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * Which address of a would-be node another record already drives (null when none). The port does
 * not matter: another port on the same address is the same machine (migration 0003), except on
 * loopback (see isLoopback).
 */
export async function findAddressConflict(
  db: Executor,
  scope: string,
  ip: { address: string; port: number },
  ipmi: { address: string; port: number },
): Promise<{ field: 'ip_address' | 'ipmi_address'; node_id: string } | null> {
  let qIp = db.selectFrom('nodes').select('id').where('address_scope', '=', scope).where('ip_address', '=', ip.address);
  if (isLoopback(ip.address)) qIp = qIp.where('ssh_port', '=', ip.port);
  const byIp = await qIp.executeTakeFirst();
  if (byIp) return { field: 'ip_address', node_id: byIp.id };
  let qIpmi = db
    .selectFrom('nodes')
    .select('id')
    .where('address_scope', '=', scope)
    .where('ipmi_address', '=', ipmi.address);
  if (isLoopback(ipmi.address)) qIpmi = qIpmi.where('ipmi_port', '=', ipmi.port);
  const byIpmi = await qIpmi.executeTakeFirst();
  if (byIpmi) return { field: 'ipmi_address', node_id: byIpmi.id };
  return null;
}

export async function getNodeById(db: Executor, id: string): Promise<Node | undefined> {
  return db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The node with the version of its row (PostgreSQL's xmin, which every UPDATE of the row changes),
 * for a precheck judged on this read (operations.service.ts `readPrecheck`).
 */
export async function getScopedNodeVersion(
  db: Executor,
  scope: Scope,
  id: string,
): Promise<{ node: Node; version: string } | undefined> {
  const row = await db
    .selectFrom('nodes')
    .selectAll()
    .select(sql<string>`xmin::text`.as('row_version'))
    .where('id', '=', id)
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment)
    .executeTakeFirst();
  if (!row) return undefined;
  const { row_version: version, ...node } = row;
  return { node, version };
}

export async function getScopedNode(
  db: Executor,
  scope: Scope,
  id: string,
  forUpdate = false,
): Promise<Node | undefined> {
  let q = db
    .selectFrom('nodes')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export interface NodeFilter {
  clusterId?: string;
  /** A status, or `hold`: the held nodes. */
  status?: NodeStatus | 'hold';
}

export async function listNodes(
  db: Executor,
  scope: Scope,
  filter: NodeFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: Node[]; total: number }> {
  let q = db.selectFrom('nodes').where('account_id', '=', scope.accountId).where('environment', '=', scope.environment);
  if (filter.clusterId) q = q.where('cluster_id', '=', filter.clusterId);
  if (filter.status) {
    q = filter.status === 'hold' ? q.where('held', '=', true) : q.where('status', '=', filter.status);
  }
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/**
 * One page of nodes with each node's lock holder and the filter's total, in ONE round trip (issue
 * 14: GET /v1/nodes made three — page ‖ count, then the locks — and under load each round trip is a
 * wait for a pooled connection). The count is a one-row derived table the page is laterally joined
 * to, so a page past the end still answers the total (one row of nulls, dropped here).
 *
 * The statement's text is built once per filter shape (nodesPageSql), not by kysely's builder on
 * every request (its building and compiling showed in the API's CPU profile, issue 14), and the
 * rows are handed on as they come (a node row with two extra columns nodeView never reads).
 */
export async function listNodesWithLocks(
  db: Executor,
  scope: Scope,
  filter: NodeFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: { node: Node; currentOperationId: string | null }[]; total: number }> {
  const params: unknown[] = [scope.accountId, scope.environment, page.limit, page.offset];
  if (filter.clusterId) params.push(filter.clusterId);
  if (filter.status && filter.status !== 'hold') params.push(filter.status);
  const { rows } = await db.executeQuery<Node & { current_operation_id: string | null; total: string }>(
    CompiledQuery.raw(
      nodesPageSql(
        !!filter.clusterId,
        filter.status === undefined ? 'none' : filter.status === 'hold' ? 'hold' : 'status',
      ),
      params,
    ),
  );
  const out: { node: Node; currentOperationId: string | null }[] = [];
  for (const r of rows) if (r.id !== null) out.push({ node: r, currentOperationId: r.current_operation_id });
  return { rows: out, total: Number(rows[0]?.total ?? 0) };
}

const NODES_PAGE_SQL = new Map<string, string>();

/**
 * listNodesWithLocks's statement for one filter shape: $1 account, $2 environment, $3 limit, $4
 * offset, then $5 cluster (when filtered by cluster), then the status (when filtered by a status).
 */
function nodesPageSql(byCluster: boolean, status: 'none' | 'hold' | 'status'): string {
  const key = `${byCluster}:${status}`;
  let text = NODES_PAGE_SQL.get(key);
  if (text === undefined) {
    let where = '"account_id" = $1 and "environment" = $2';
    if (byCluster) where += ' and "cluster_id" = $5';
    if (status === 'hold') where += ' and "held" = true';
    if (status === 'status') where += ` and "status" = $${byCluster ? 6 : 5}`;
    text =
      `select n.*, (select l.operation_id from operation_locks l where l.resource_id = n.id) as current_operation_id, t.total ` +
      `from (select count(*) as "total" from "nodes" where ${where}) t ` +
      `left join lateral (select * from "nodes" where ${where} order by "created_at" desc, "id" desc limit $3 offset $4) n on true ` +
      `order by n.created_at desc, n.id desc`;
    NODES_PAGE_SQL.set(key, preparedStatement(text));
  }
  return text;
}

export async function updateNode(db: Executor, id: string, patch: NodeUpdate): Promise<void> {
  await db
    .updateTable('nodes')
    .set({ ...patch, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function deleteNode(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('nodes').where('id', '=', id).execute();
}

export async function nodesOfCluster(db: Executor, clusterId: string): Promise<Node[]> {
  return db.selectFrom('nodes').selectAll().where('cluster_id', '=', clusterId).orderBy('hostname').execute();
}

/** The operation holding each node's lock, for the nodes that have one. */
export async function currentOperationIds(db: Executor, nodeIds: readonly string[]): Promise<Map<string, string>> {
  if (nodeIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('operation_locks')
    .select(['resource_id', 'operation_id'])
    .where('resource_id', 'in', [...nodeIds])
    .execute();
  return new Map(rows.map((r) => [r.resource_id, r.operation_id]));
}

/** A node's status, and why (null clears the reason). */
export async function setNodeStatus(
  db: Executor,
  id: string,
  status: NodeStatus,
  reason: string | null,
): Promise<void> {
  await updateNode(db, id, { status, status_reason: reason });
}

/**
 * Pins the SSH host key seen on first contact, only while none is pinned. Answers false when
 * another attempt pinned one meanwhile. A key another record pinned violates nodes_host_key_unique
 * (the error goes to the caller).
 */
export async function pinHostKey(db: Executor, id: string, fingerprint: string): Promise<boolean> {
  const res = await db
    .updateTable('nodes')
    .set({ ssh_host_key_fingerprint: fingerprint })
    .where('id', '=', id)
    .where('ssh_host_key_fingerprint', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * Pins a Redfish BMC's TLS certificate fingerprint seen on first contact, only while none is
 * pinned (an operator may have given one at registration). Answers false when one was pinned.
 */
export async function pinBmcCertificate(db: Executor, id: string, fingerprint: string): Promise<boolean> {
  const res = await db
    .updateTable('nodes')
    .set({ bmc_tls_fingerprint: fingerprint })
    .where('id', '=', id)
    .where('bmc_tls_fingerprint', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The nodes a cluster creation was accepted with become its provisioning members. */
export async function markNodesProvisioning(db: Executor, clusterId: string, nodeIds: string[]): Promise<void> {
  await db
    .updateTable('nodes')
    .set({ status: 'provisioning', status_reason: null, cluster_id: clusterId, updated_at: sql`now()` })
    .where('id', 'in', nodeIds)
    .execute();
}

/** Every member of the cluster to `status` (with its reason, null clears it). */
export async function setClusterMembersStatus(
  db: Executor,
  clusterId: string,
  status: NodeStatus,
  reason: string | null = null,
): Promise<void> {
  await db
    .updateTable('nodes')
    .set({ status, status_reason: reason, updated_at: sql`now()` })
    .where('cluster_id', '=', clusterId)
    .execute();
}

/** The cluster's members leave it (no cluster, no reason) as `status`; answers how many. */
export async function releaseClusterMembers(db: Executor, clusterId: string, status: NodeStatus): Promise<number> {
  // Maintenance of a member ends with its cluster (issue 13 #1): nothing is left to restore in Ceph.
  await db.deleteFrom('node_maintenance').where('cluster_id', '=', clusterId).execute();
  const res = await db
    .updateTable('nodes')
    .set({ cluster_id: null, status, status_reason: null, updated_at: sql`now()` })
    .where('cluster_id', '=', clusterId)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** A host removed from its cluster (cluster.shrink): the node leaves it and is `ready`. Idempotent. */
export async function releaseRemovedMember(db: Executor, clusterId: string, nodeId: string): Promise<number> {
  const res = await db
    .updateTable('nodes')
    .set({ cluster_id: null, status: 'ready', status_reason: null, updated_at: sql`now()` })
    .where('id', '=', nodeId)
    .where('cluster_id', '=', clusterId)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** The member of a cluster with this hostname (its CRUSH host name). */
export async function findClusterMember(db: Executor, clusterId: string, hostname: string): Promise<Node | undefined> {
  return db
    .selectFrom('nodes')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .where('hostname', '=', hostname)
    .executeTakeFirst();
}

/** What Ceph-facing activities need of a cluster's members (no secrets), unordered. */
export async function clusterMemberSummaries(
  db: Executor,
  clusterId: string,
): Promise<{ id: string; hostname: string; status: NodeStatus; held: boolean }[]> {
  return db
    .selectFrom('nodes')
    .select(['id', 'hostname', 'status', 'held'])
    .where('cluster_id', '=', clusterId)
    .execute();
}

/**
 * The hostnames of these nodes of one account, in the order of `ids` (unknown ids and other
 * accounts' nodes are left out): names for workflow summaries.
 */
export async function hostnamesOf(
  db: Executor,
  accountId: string,
  ids: readonly string[],
): Promise<{ id: string; hostname: string }[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('nodes')
    .select(['id', 'hostname'])
    .where('account_id', '=', accountId)
    .where('id', 'in', [...ids])
    .execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => {
    const r = byId.get(id);
    return r ? [r] : [];
  });
}

/** The ids of a cluster's members, in id order. */
export async function clusterMemberIds(db: Executor, clusterId: string): Promise<string[]> {
  const rows = await db.selectFrom('nodes').select('id').where('cluster_id', '=', clusterId).orderBy('id').execute();
  return rows.map((r) => r.id);
}

/** The members of a cluster that are on hold (PATCH state: hold), by id. */
export async function heldMembers(db: Executor, clusterId: string): Promise<{ id: string; hostname: string }[]> {
  return db
    .selectFrom('nodes')
    .select(['id', 'hostname'])
    .where('cluster_id', '=', clusterId)
    .where('held', '=', true)
    .orderBy('id')
    .execute();
}

/** The cluster's members in maintenance mode (issue 13 #1). */
export async function maintenanceMembers(db: Executor, clusterId: string): Promise<{ id: string; hostname: string }[]> {
  return db
    .selectFrom('nodes')
    .select(['id', 'hostname'])
    .where('cluster_id', '=', clusterId)
    .where('status', '=', 'maintenance')
    .orderBy('id')
    .execute();
}

/** Statuses the cluster monitor's node probes move between (activities/node-probes.ts); every other status belongs to an operation or the operator. */
const PROBED_STATUSES = ['online', 'offline'] as const;

/** The members the monitor may judge: online or offline, and no running operation holds their lock. */
export async function probeableMembers(db: Executor, clusterId: string): Promise<Node[]> {
  return db
    .selectFrom('nodes')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .where('status', 'in', [...PROBED_STATUSES])
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(selectFrom('operation_locks as l').select('l.resource_id').whereRef('l.resource_id', '=', 'nodes.id')),
      ),
    )
    .orderBy('hostname')
    .execute();
}

/**
 * Writes one probe's verdict if the node is still a member of `clusterId`, still online/offline and
 * still held by no running operation's lock (a reboot may have started since the probe); the row is
 * locked for the update. Answers the status before (null: the node was not the monitor's to judge,
 * nothing written). A change writes its node.status_changed event through the nodes table's trigger.
 */
export async function setProbedNodeStatus(
  db: Executor,
  clusterId: string,
  nodeId: string,
  status: 'online' | 'offline',
  reason: string | null,
): Promise<NodeStatus | null> {
  const before = await db
    .selectFrom('nodes')
    .select('status')
    .where('id', '=', nodeId)
    .where('cluster_id', '=', clusterId)
    .where('status', 'in', [...PROBED_STATUSES])
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('operation_locks as l').select('l.resource_id').where('l.resource_id', '=', nodeId))),
    )
    .forUpdate()
    .executeTakeFirst();
  if (!before) return null;
  await db
    .updateTable('nodes')
    .set({ status, status_reason: reason, updated_at: sql`now()` })
    .where('id', '=', nodeId)
    .where((eb) => eb.or([eb('status', '<>', status), eb('status_reason', 'is distinct from', reason)]))
    .execute();
  return before.status;
}
