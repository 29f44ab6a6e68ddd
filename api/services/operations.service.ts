import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributePair } from '@temporalio/common';
import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../../lib/config';
import { isId, newId } from '../../lib/ids';
import type { Logger } from '../../lib/logger';
import { answerEstimate } from '../../lib/plans/progress';
import { json, type Database, type Executor, type Operation } from '../../db/database';
import { getClusterById, lockClustersForUpdate } from '../../db/repositories/clusters.repository';
import { hostnamesOf } from '../../db/repositories/nodes.repository';
import { boundedHostnames, clipSummary, workflowDetails } from '../../lib/workflow-summary';
import * as ops from '../../db/repositories/operations.repository';
import { leaveToSettler } from './settler.service';
import {
  getOperationQuery,
  pauseUpdate,
  resumeUpdate,
  SA_ACCOUNT_ID,
  SA_CLUSTER_ID,
  SA_CLUSTER_NAME,
  SA_HOSTNAMES,
  SA_NODE_ID,
  SA_OPERATION_ID,
  SA_OPERATION_TYPE,
  workflowIdFor,
  type OperationSnapshot,
  type OperationType,
} from '../../workflows/contracts';
import { OPERATIONS, PAUSABLE_TYPES } from '../../workflows/registry';
import type { OperationInput } from '../../workflows/registry.types';
import { bindIdempotencyKey } from '../../db/repositories/idempotency.repository';
import { endUnstartedOperation } from '../../db/repositories/start-undo.repository';
import { ApiError } from '../errors';
import { idempotencyClaim } from '../middleware/idempotency.middleware';

export interface OperationDeps {
  db: Kysely<Database>;
  temporal: Client;
  config: Config;
  logger: Logger;
}

/** A request to start an operation of type T; its `input` is checked against T's workflow (workflows/registry.ts). */
export interface StartRequest<T extends OperationType> {
  accountId: string;
  environment: 'live' | 'sandbox';
  type: T;
  requestId: string;
  /** The resource the workflow id is built from (node or cluster id). */
  primaryResourceId: string;
  nodeId?: string | null;
  clusterId?: string | null;
  osdId?: number | null;
  /**
   * Every resource the operation mutates; one operation at a time per resource. Locks nest under
   * a cluster: `clus_…` (the whole cluster) conflicts with any `clus_…/<part>` lock (an OSD, a
   * drain slot) and the other way round, so cluster-wide operations and drains exclude each other.
   */
  lockResourceIds: string[];
  /**
   * One of `count` interchangeable locks `<prefix>/<i>` (e.g. a cluster's drain slots): the first
   * free one is taken; none free is a 409 naming an operation holding one.
   */
  slot?: { prefix: string; count: number };
  /** Non-secret parameters, shown on the operation. */
  params: Record<string, unknown>;
  /** Builds the workflow input from the new operation id. Ids only, never secrets. */
  input: (operationId: string) => NoInfer<OperationInput<T>>;
  /** Checks run inside the locking transaction, so they see the state the lock protects. */
  precheck?: (trx: Transaction<Database>) => Promise<void>;
  /**
   * `precheck` judged on node rows the caller read before the start, so the start is one statement
   * (nf_start_operation) instead of a transaction of several round trips: `nodes` are the rows
   * `check` reads, each with the version (xmin) it was read at (getScopedNodeVersion); `check`
   * throws what `precheck` would throw for those rows. The statement locks them FOR UPDATE, as
   * `precheck` does, after the resource locks, and goes on only while each is still that version,
   * so `check`'s answer is the one `precheck` would give under the lock, and a refusal is still
   * answered after a lock conflict. When a row changed meanwhile, the start runs `precheck` in its
   * transaction as before. Not used with `onCreate` or `slot` (those start in the transaction).
   */
  readPrecheck?: { nodes: { id: string; version: string }[]; check: () => void };
  /** Extra writes made atomically with the operation row (e.g. a node's status). */
  onCreate?: (trx: Transaction<Database>, operationId: string) => Promise<void>;
  /**
   * The workflow's static summary (the Web UI's list): what the operation does, naming the cluster
   * and hosts by name. A function is given the names read in the locking transaction (after
   * `onCreate`, so a cluster or node created by this request is named too).
   */
  summary: string | ((names: TargetNames) => string);
}

/** The names of what an operation touches, for its workflow's summary and details. */
export interface TargetNames {
  cluster: { id: string; name: string } | null;
  /** The nodes among the locked resources (and `nodeId`), in lock order. */
  hosts: { id: string; hostname: string }[];
  /** The hostname of a node id (the id itself when unknown). */
  hostname(nodeId: string | null | undefined): string;
}

/** Reads the names of a cluster and nodes of one account (other accounts' resources stay unnamed). */
export async function readTargetNames(
  db: Executor,
  t: { accountId: string; clusterId?: string | null; nodeIds: readonly string[] },
): Promise<TargetNames> {
  // Only well-formed ids are looked up: a dry run reads names before anything validated the
  // request's node_ids against the database (a malformed id is simply left unnamed).
  const cluster = t.clusterId && isId('cluster', t.clusterId) ? await getClusterById(db, t.clusterId) : undefined;
  const hosts = await hostnamesOf(db, t.accountId, [...new Set(t.nodeIds.filter((id) => isId('node', id)))]);
  const byId = new Map(hosts.map((h) => [h.id, h.hostname]));
  return {
    cluster: cluster && cluster.account_id === t.accountId ? { id: cluster.id, name: cluster.name } : null,
    hosts,
    hostname: (id) => (id ? (byId.get(id) ?? id) : 'unknown host'),
  };
}

/**
 * NfClusterName and NfHostnames: the names as search attributes, so the Web UI's workflow list can
 * show them as columns (its list does not carry the summary on Temporal Server 1.29).
 */
export function nameSearchAttributes(names: Pick<TargetNames, 'cluster' | 'hosts'>): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [];
  if (names.cluster) pairs.push({ key: SA_CLUSTER_NAME, value: names.cluster.name });
  if (names.hosts.length > 0) pairs.push({ key: SA_HOSTNAMES, value: boundedHostnames(names.hosts) });
  return pairs;
}

/**
 * Creates the operation row, takes the resource locks and starts the workflow; returns at once.
 * Mutual exclusion is the primary key of operation_locks, so it holds across API processes.
 */
export async function startOperation<T extends OperationType>(
  deps: OperationDeps,
  req: StartRequest<T>,
): Promise<Operation> {
  const { db, temporal, config } = deps;
  const operationId = newId('operation');
  const workflowId = workflowIdFor(req.type, req.primaryResourceId, operationId);

  let metadata = { staticSummary: '', staticDetails: '' };
  let nameAttributes: SearchAttributePair[] = [];
  const named = (names: TargetNames) => {
    nameAttributes = nameSearchAttributes(names);
    metadata = {
      staticSummary: clipSummary(typeof req.summary === 'string' ? req.summary : req.summary(names)),
      staticDetails: workflowDetails({
        title: `NodeFoundry operation ${operationId} (${req.type})`,
        cluster: names.cluster,
        hosts: names.hosts,
        lines: [`request: ${req.requestId}`],
      }),
    };
  };
  const oneStatement = req.readPrecheck && !req.onCreate && !req.slot ? req.readPrecheck : null;
  for (let attempt = 0; ; attempt++) {
    const fast = oneStatement ? await startWithReadPrecheck(db, req, oneStatement, operationId, workflowId) : 'stale';
    if (fast !== 'stale' && !(fast instanceof BusyError)) {
      named(fast);
      break;
    }
    const busy =
      fast instanceof BusyError
        ? fast
        : await retryOnConflict(() =>
            db.transaction().execute(async (trx) => {
              // Scope first: a resource of another account or environment is never locked, so its locks
              // and operations cannot be probed through a conflict (issue 8 #7).
              await assertLockScope(trx, req);
              await ops.insertOperation(trx, {
                id: operationId,
                account_id: req.accountId,
                environment: req.environment,
                type: req.type,
                status: 'pending',
                cluster_id: req.clusterId ?? null,
                node_id: req.nodeId ?? null,
                osd_id: req.osdId ?? null,
                request_id: req.requestId,
                workflow_id: workflowId,
                params: json(req.params),
              });
              // Serialise lock-taking per cluster on its row, so the nesting checks below see every lock
              // committed before them (READ COMMITTED re-reads after the row lock is granted).
              await lockClusterRows(trx, [...req.lockResourceIds, ...(req.slot ? [req.slot.prefix] : [])]);
              let taken = await ops.acquireLocks(trx, operationId, req.lockResourceIds);
              for (let i = 0; taken.length > 0; i++) {
                const holders = await ops.lockHolders(trx, taken);
                // Throwing rolls back the operation row and any lock this attempt took.
                if (holders[0]) throw new BusyError(holders[0].resource_id, holders[0].operation_id);
                // Its holder released the lock between the insert and this read (found by chaos seed 33:
                // this was a 500): the resource is free now, take it.
                if (i >= 2) throw new ApiError('resource_busy', 'A resource of this request is busy; retry later.');
                taken = await ops.acquireLocks(trx, operationId, taken);
              }
              const nested = await nestedLockHolder(trx, operationId, req.lockResourceIds);
              if (nested) throw new BusyError(nested.resource_id, nested.operation_id);
              if (req.slot) await takeSlot(trx, operationId, req.slot);
              await req.precheck?.(trx);
              await req.onCreate?.(trx, operationId);
              const names = await readTargetNames(trx, {
                accountId: req.accountId,
                clusterId: req.clusterId,
                nodeIds: [...(req.nodeId ? [req.nodeId] : []), ...req.lockResourceIds.filter((id) => isId('node', id))],
              });
              named(names);
              // The request's Idempotency-Key now names this operation (same commit as the row): a retry
              // whose answer was lost finds it instead of running the request again.
              const claim = idempotencyClaim();
              if (claim && !(await bindIdempotencyKey(trx, claim, operationId))) throw idempotencyTakenOver();
              return null;
            }),
          ).catch((err: unknown) => {
            if (err instanceof BusyError) return err;
            throw err;
          });
    if (!busy) break;
    // Defence in depth: a holder outside the caller's scope is never named, nor settled.
    if (!(await holderInScope(db, busy.operationId, req))) {
      throw new ApiError('resource_busy', 'A resource of this request is busy; retry later.');
    }
    // A lock whose workflow is gone (terminated from the Web UI, say) must not block the resource
    // forever: if Temporal says the holder is closed, settle it and try once more.
    if (attempt === 0 && (await settleIfClosed(deps, busy.operationId))) continue;
    const what = busy.why
      ? `${busy.why}; ${busy.resourceId} is held by operation ${busy.operationId}`
      : `${busy.resourceId} is busy with operation ${busy.operationId}`;
    throw new ApiError('resource_busy', `${what}.`, {
      operation_id: busy.operationId,
      resource_id: busy.resourceId,
    });
  }

  const searchAttributes: SearchAttributePair[] = [
    { key: SA_OPERATION_ID, value: operationId },
    { key: SA_OPERATION_TYPE, value: req.type },
    { key: SA_ACCOUNT_ID, value: req.accountId },
  ];
  if (req.clusterId) searchAttributes.push({ key: SA_CLUSTER_ID, value: req.clusterId });
  if (req.nodeId) searchAttributes.push({ key: SA_NODE_ID, value: req.nodeId });
  searchAttributes.push(...nameAttributes);

  let runId: string | null = null;
  let startError: unknown = null;
  try {
    const handle = await temporal.workflow.start(OPERATIONS[req.type].workflowType, {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [req.input(operationId)],
      typedSearchAttributes: new TypedSearchAttributes(searchAttributes),
      ...metadata,
    });
    runId = handle.firstExecutionRunId;
  } catch (err) {
    startError = err;
  }
  if (startError !== null) {
    // The start may have reached Temporal even though it answered an error (a deadline, a lost
    // connection): the workflow id is this operation's alone, so ask Temporal whether it exists.
    deps.logger.warn('workflow start answered an error; asking Temporal whether it started', {
      operation_id: operationId,
      err: String(startError),
    });
    const found = await findStartedWorkflow(deps, workflowId);
    if (found.state === 'absent') {
      await endUnstartedOperation(deps.db, operationId);
      throw new ApiError(
        'service_unavailable',
        'The workflow engine is unavailable; the operation was not started and nothing was changed. Try again.',
        {
          operation_id: operationId,
        },
      );
    }
    if (found.state === 'unknown') {
      // Locks, rows and the Idempotency-Key binding stay: a retry meets this operation (409
      // resource_busy naming it, or its replay), never starts a second one. settleIfClosed ends it
      // (and undoes its create step) once Temporal is known to have no such workflow.
      deps.logger.error('workflow start outcome unknown', { operation_id: operationId });
      throw new ApiError(
        'service_unavailable',
        `The workflow engine did not confirm whether operation ${operationId} started; its outcome is unknown (it may be running). ` +
          `See GET /v1/operations/${operationId}; sending the request again meets this operation, it never starts a second one.`,
        { operation_id: operationId },
      );
    }
    runId = found.runId;
  }
  try {
    // The row as written answers the request (issue 14: one round trip, not an update then a read).
    const row = await ops.setRunId(db, operationId, runId!);
    if (row) return row;
  } catch (err) {
    // The workflow runs and holds the locks; the run id is only a link (the workflow id finds it).
    deps.logger.warn('run id not recorded', { operation_id: operationId, err: String(err) });
  }
  return (await ops.getOperationById(db, operationId))!;
}

function idempotencyTakenOver(): ApiError {
  return new ApiError(
    'idempotency_in_progress',
    "This request's Idempotency-Key was taken over by a later request with the same key; nothing was changed.",
    { field: 'Idempotency-Key' },
  );
}

/**
 * The start as one statement (nf_start_operation, migration 2026-12-05-0602): the same steps in
 * the same order as the transaction of startOperation — scope (404 before anything is locked),
 * operation row, cluster rows, resource locks, nesting, then the precheck on the rows it read
 * (their versions checked under FOR UPDATE), names, Idempotency-Key binding — committed when it
 * answers the names. A lock conflict answers its holder (the caller settles or names it, as for
 * the transaction); `stale` (a checked row changed since it was read) means nothing was written
 * and the transaction must decide.
 */
async function startWithReadPrecheck<T extends OperationType>(
  db: Kysely<Database>,
  req: StartRequest<T>,
  readPrecheck: NonNullable<StartRequest<T>['readPrecheck']>,
  operationId: string,
  workflowId: string,
): Promise<TargetNames | BusyError | 'stale'> {
  let refusal: unknown = null;
  try {
    readPrecheck.check();
  } catch (err) {
    refusal = err;
  }
  const clusterIds = [
    ...new Set(req.lockResourceIds.map((id) => CLUSTER_LOCK.exec(id)?.[0]).filter((c): c is string => !!c)),
  ];
  const claim = idempotencyClaim();
  const nameNodeIds = [
    ...new Set(
      [...(req.nodeId ? [req.nodeId] : []), ...req.lockResourceIds.filter((id) => isId('node', id))].filter((id) =>
        isId('node', id),
      ),
    ),
  ];
  const out = await retryOnConflict(() =>
    ops.startInOneStatement(db, {
      op: {
        id: operationId,
        account_id: req.accountId,
        environment: req.environment,
        type: req.type,
        cluster_id: req.clusterId ?? null,
        node_id: req.nodeId ?? null,
        osd_id: req.osdId ?? null,
        request_id: req.requestId,
        workflow_id: workflowId,
        params: req.params,
      },
      scope_node_ids: req.lockResourceIds.filter((id) => isId('node', id)),
      scope_cluster_ids: clusterIds,
      lock_cluster_ids: clusterIds,
      sorted_lock_ids: [...req.lockResourceIds].sort(),
      lock_ids: req.lockResourceIds,
      guard_node_ids: readPrecheck.nodes.map((n) => n.id),
      guard_versions: readPrecheck.nodes.map((n) => n.version),
      refused: refusal !== null,
      name_cluster_id: req.clusterId && isId('cluster', req.clusterId) ? req.clusterId : null,
      name_node_ids: nameNodeIds,
      claim: claim ? { account_id: claim.accountId, key: claim.key, claim_id: claim.claimId } : null,
    }),
  );
  if (out.ok) {
    const byId = new Map(out.hosts.map((h) => [h.id, h.hostname]));
    return {
      cluster: out.cluster,
      hosts: out.hosts,
      hostname: (id) => (id ? (byId.get(id) ?? id) : 'unknown host'),
    };
  }
  switch (out.reason) {
    case 'node_not_found':
      throw new ApiError('node_not_found', `No node with ID ${out.id} exists in this account.`, { field: 'node_ids' });
    case 'cluster_not_found':
      throw new ApiError('cluster_not_found', `No cluster with ID ${out.id} exists in this account.`);
    case 'busy':
      return new BusyError(out.resource_id, out.operation_id);
    case 'busy_unnamed':
      throw new ApiError('resource_busy', 'A resource of this request is busy; retry later.');
    case 'refused':
      throw refusal;
    case 'idempotency_taken':
      throw idempotencyTakenOver();
    case 'stale':
      return 'stale';
  }
}

/** How often, and how long each time, a start that answered an error is looked up. */
const START_LOOKUP_ATTEMPTS = 3;
const START_LOOKUP_TIMEOUT_MS = 5_000;
const START_LOOKUP_BACKOFF_MS = 500;

/**
 * Whether Temporal has the workflow: `absent` only on Temporal's own "not found" (twice, a backoff
 * apart, so a start still in flight on the server has landed), `unknown` when it cannot be asked.
 * Bounded: at most START_LOOKUP_ATTEMPTS × (timeout + backoff).
 */
export async function findStartedWorkflow(
  deps: Pick<OperationDeps, 'temporal' | 'logger'>,
  workflowId: string,
): Promise<{ state: 'running'; runId: string } | { state: 'absent' } | { state: 'unknown' }> {
  let notFound = 0;
  for (let attempt = 0; attempt < START_LOOKUP_ATTEMPTS; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, START_LOOKUP_BACKOFF_MS * attempt));
    try {
      const handle = deps.temporal.workflow.getHandle(workflowId);
      const desc = await deps.temporal.connection.withDeadline(Date.now() + START_LOOKUP_TIMEOUT_MS, () =>
        handle.describe(),
      );
      return { state: 'running', runId: desc.runId };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        if (++notFound >= 2) return { state: 'absent' };
        continue;
      }
      deps.logger.warn('workflow lookup failed', { workflow_id: workflowId, attempt, err: String(err) });
    }
  }
  return { state: 'unknown' };
}

const CLUSTER_LOCK = /^clus_[^/]+/;

/** Locks (FOR UPDATE) the rows of the clusters the lock ids name, in id order (no deadlocks). */
async function lockClusterRows(trx: Transaction<Database>, lockIds: string[]): Promise<void> {
  const clusters = [...new Set(lockIds.map((id) => CLUSTER_LOCK.exec(id)?.[0]).filter((c): c is string => !!c))].sort();
  if (clusters.length === 0) return;
  await lockClustersForUpdate(trx, clusters);
}

/** Another operation's lock that nests with one of ours: the cluster over our part, or a part under our cluster. */
async function nestedLockHolder(
  trx: Transaction<Database>,
  operationId: string,
  lockIds: string[],
): Promise<{ resource_id: string; operation_id: string } | undefined> {
  for (const id of lockIds) {
    const cluster = CLUSTER_LOCK.exec(id)?.[0];
    if (!cluster) continue;
    const hit =
      id === cluster
        ? await ops.otherLockUnder(trx, operationId, cluster)
        : await ops.otherLockOn(trx, operationId, cluster);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Refuses (404, as if absent) any lock id that names a node or cluster of another account or
 * environment, before anything is locked. Ids of resources that do not exist yet (the cluster a
 * create makes) pass: they hold nothing of anyone.
 */
async function assertLockScope(
  trx: Transaction<Database>,
  req: Pick<StartRequest<OperationType>, 'accountId' | 'environment' | 'lockResourceIds'>,
): Promise<void> {
  const nodeIds = req.lockResourceIds.filter((id) => isId('node', id));
  const clusterIds = [
    ...new Set(req.lockResourceIds.map((id) => CLUSTER_LOCK.exec(id)?.[0]).filter((c): c is string => !!c)),
  ];
  const outside = (table: 'nodes' | 'clusters', ids: string[]) =>
    ids.length === 0 ? Promise.resolve(undefined) : ops.firstOutsideScope(trx, table, ids, req);
  const node = await outside('nodes', nodeIds);
  if (node)
    throw new ApiError('node_not_found', `No node with ID ${node.id} exists in this account.`, { field: 'node_ids' });
  const cluster = await outside('clusters', clusterIds);
  if (cluster) throw new ApiError('cluster_not_found', `No cluster with ID ${cluster.id} exists in this account.`);
}

/** Whether the operation holding a lock belongs to the caller's account and environment. */
async function holderInScope(
  db: Kysely<Database>,
  operationId: string,
  req: Pick<StartRequest<OperationType>, 'accountId' | 'environment'>,
): Promise<boolean> {
  const op = await ops.getOperationById(db, operationId);
  return !!op && op.account_id === req.accountId && op.environment === req.environment;
}

/** PostgreSQL's "try again" errors: serialization failure and deadlock. */
export function isRetryableTransactionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

/**
 * Runs a transaction again when PostgreSQL aborted it as a deadlock or serialization victim (it
 * changed nothing); after the last attempt the error goes on and the error middleware answers 409.
 */
async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isRetryableTransactionError(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.floor(Math.random() * 40 * i)));
    }
  }
}

/**
 * Takes a free `<prefix>/<i>` while fewer than `count` are held; the caller holds the cluster row,
 * so two requests never pick the same. Every held slot counts, also one above `count` (taken while
 * NF_DRAIN_SLOTS was larger, or by an API process configured differently), so lowering the limit
 * never lets more run than the lower value once those end.
 */
async function takeSlot(
  trx: Transaction<Database>,
  operationId: string,
  slot: { prefix: string; count: number },
): Promise<void> {
  const held = await ops.locksUnder(trx, slot.prefix);
  if (held.length < slot.count) {
    const taken = new Set(held.map((h) => h.resource_id));
    for (let i = 0; i < slot.count + held.length; i++) {
      const id = `${slot.prefix}/${i}`;
      if (!taken.has(id) && (await ops.acquireLocks(trx, operationId, [id])).length === 0) return;
    }
  }
  const holder = held[0] ?? (await ops.locksUnder(trx, slot.prefix))[0];
  if (!holder) throw new Error(`no free slot ${slot.prefix}/* and no holder found`);
  throw new BusyError(holder.resource_id, holder.operation_id, `all ${slot.count} slots ${slot.prefix}/* are taken`);
}

class BusyError extends Error {
  constructor(
    readonly resourceId: string,
    readonly operationId: string,
    readonly why: string | null = null,
  ) {
    super('busy');
  }
}

/**
 * How long a lock may exist without its workflow before it is presumed orphaned (the API process
 * died between committing the lock and starting the workflow). Within it, a missing workflow is
 * one whose start is still in flight from another request, and its lock must stand.
 */
const START_GRACE_MS = 60_000;

/** How long settleIfClosed waits for Temporal's describe (a Temporal restart must not hold it). */
const SETTLE_DESCRIBE_TIMEOUT_MS = 5_000;

/**
 * Settles the operation holding a lock when its workflow is closed or gone; answers whether the
 * lock was released (so the caller may try again). The row is changed only while it has not ended
 * (one conditional UPDATE): the end a workflow wrote itself is never overwritten, however long the
 * describe took. An operation whose workflow never started (none in Temporal, no run id, older than
 * START_GRACE_MS) is failed and its create step undone, so it never stays `pending`.
 */
export async function settleIfClosed(deps: OperationDeps, operationId: string): Promise<boolean> {
  const op = await ops.getOperationById(deps.db, operationId);
  if (!op) return false;
  if (ops.TERMINAL_STATUSES.includes(op.status)) {
    await ops.releaseLocks(deps.db, operationId);
    return true;
  }
  try {
    const handle = deps.temporal.workflow.getHandle(op.workflow_id);
    const desc = await deps.temporal.connection.withDeadline(Date.now() + SETTLE_DESCRIBE_TIMEOUT_MS, () =>
      handle.describe(),
    );
    if (desc.status.name === 'RUNNING') return false;
    if (await leaveToSettler(deps, operationId)) return false;
    await settleWithoutWorkflow(deps, operationId, {
      status: desc.status.name === 'CANCELLED' ? 'cancelled' : 'failed',
      error: { code: 'workflow_closed', message: `The workflow ended as ${desc.status.name} outside NodeFoundry.` },
      completed_at: (desc.closeTime ?? new Date()).toISOString(),
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      // Not started yet (another request is between its commit and workflow.start): keep the lock.
      if (op.run_id === null && Date.now() - op.created_at.getTime() < START_GRACE_MS) return false;
      if (op.run_id === null) {
        await endUnstartedOperation(deps.db, operationId);
        return true;
      }
      if (await leaveToSettler(deps, operationId)) return false;
      await settleWithoutWorkflow(deps, operationId, {
        status: 'failed',
        error: {
          code: 'workflow_closed',
          message: 'The workflow is no longer known to Temporal (past retention, or deleted) and recorded no end.',
        },
        completed_at: new Date().toISOString(),
      });
      return true;
    }
    return false;
  }
}

/**
 * Ends a not-yet-ended operation on the API's word, keeping what the row recorded so far (steps,
 * logs, progress), under a row lock so the row written by the workflow meanwhile wins.
 */
async function settleWithoutWorkflow(
  deps: OperationDeps,
  operationId: string,
  end: { status: 'failed' | 'cancelled'; error: { code: string; message: string }; completed_at: string },
): Promise<boolean> {
  return deps.db.transaction().execute(async (trx) => {
    const now = await ops.getOperationById(trx, operationId, true);
    if (!now) return false;
    return ops.settleOperation(trx, operationId, {
      status: end.status,
      progress: now.progress,
      current_step: now.current_step,
      steps: now.steps,
      logs: now.logs,
      error: end.error,
      result: now.result,
      started_at: now.started_at?.toISOString() ?? null,
      completed_at: end.completed_at,
    });
  });
}

/** How long a GET waits for the running workflow to answer its query before serving the stored row. */
export const QUERY_TIMEOUT_MS = 2_000;

export interface OperationView {
  id: string;
  type: string;
  status: string;
  progress: number;
  current_step: string | null;
  steps: OperationSnapshot['steps'];
  logs: OperationSnapshot['logs'];
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  estimated_completion: string | null;
  error: OperationSnapshot['error'];
  result: OperationSnapshot['result'];
  cluster_id: string | null;
  node_id: string | null;
  osd_id: number | null;
  params: Record<string, unknown>;
  request_id: string;
  cancel_requested_at: string | null;
  temporal: { workflow_id: string; run_id: string | null; ui_url: string };
}

/**
 * The operation as the client sees it: from the running workflow's query while it exists, from the
 * row the workflow wrote at its end otherwise (and when the workflow has left retention).
 */
export async function viewOperation(deps: OperationDeps, op: Operation, live = true): Promise<OperationView> {
  let snap: OperationSnapshot | null = null;
  if (live && !ops.TERMINAL_STATUSES.includes(op.status)) {
    try {
      // Bounded: with no worker polling (all down, or not started yet) a query waits for one, and
      // a GET must not hang on that; the stored row answers instead.
      const handle = deps.temporal.workflow.getHandle(op.workflow_id);
      snap = await deps.temporal.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
        handle.query(getOperationQuery),
      );
    } catch (err) {
      // Not started yet, or already gone: the row is the truth.
      deps.logger.debug('operation query failed; serving the stored state', { operation_id: op.id, err: String(err) });
    }
  }
  const ns = encodeURIComponent(deps.config.temporal.namespace);
  const wid = encodeURIComponent(op.workflow_id);
  const status = snap?.status ?? op.status;
  const progress = snap?.progress ?? op.progress;
  const startedAt = snap?.started_at ?? op.started_at?.toISOString() ?? null;
  return {
    id: op.id,
    type: op.type,
    status,
    progress,
    current_step: snap ? snap.current_step : op.current_step,
    steps: snap?.steps ?? op.steps,
    logs: snap?.logs ?? op.logs,
    created_at: op.created_at.toISOString(),
    started_at: startedAt,
    completed_at: snap?.completed_at ?? op.completed_at?.toISOString() ?? null,
    // The workflow's estimate (lib/plans/progress.ts: pace of the active time, paused time excluded,
    // fixed between progress changes); without the live workflow there is no honest one.
    estimated_completion: snap ? answerEstimate(status, snap.estimated_completion, Date.now()) : null,
    error: snap ? snap.error : op.error,
    result: snap ? snap.result : op.result,
    cluster_id: op.cluster_id,
    node_id: op.node_id,
    osd_id: op.osd_id,
    params: op.params,
    request_id: op.request_id,
    cancel_requested_at: op.cancel_requested_at?.toISOString() ?? null,
    temporal: {
      workflow_id: op.workflow_id,
      run_id: op.run_id,
      ui_url: `${deps.config.temporal.uiUrl}/namespaces/${ns}/workflows/${wid}${op.run_id ? `/${op.run_id}` : ''}`,
    },
  };
}

/**
 * Requests cancellation; the workflow runs its compensation and records `cancelled`. Once a cancel
 * was delivered (recorded as `cancel_requested_at`, after Temporal accepted it), another is 409
 * `invalid_state` "cancellation already requested": it would change nothing, and a 202 would
 * suggest it did.
 */
export async function cancelOperation(deps: OperationDeps, op: Operation): Promise<void> {
  if (ops.TERMINAL_STATUSES.includes(op.status)) {
    throw new ApiError('invalid_state', `Operation ${op.id} has already ended (${op.status}).`);
  }
  if (op.cancel_requested_at) {
    throw new ApiError(
      'invalid_state',
      `Cancellation of operation ${op.id} was already requested at ${op.cancel_requested_at.toISOString()}; it is undoing its changes and will end cancelled.`,
      { cancel_requested_at: op.cancel_requested_at.toISOString() },
    );
  }
  try {
    await deps.temporal.workflow.getHandle(op.workflow_id).cancel();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new ApiError('invalid_state', `Operation ${op.id} is no longer running.`);
    }
    throw err;
  }
  // Recorded only once Temporal has it: a cancel that failed to arrive may simply be sent again.
  await ops.markCancelRequested(deps.db, op.id);
}

/** How long pause/resume wait for the workflow to accept the update. */
export const UPDATE_TIMEOUT_MS = 10_000;

/**
 * Pause (at the next safe point: no new host starts) or resume (a failed host is retried) through
 * the workflow's update, which answers with the new state or rejects with its reason.
 */
export async function pauseOrResumeOperation(
  deps: OperationDeps,
  op: Operation,
  action: 'pause' | 'resume',
  reason?: string,
): Promise<void> {
  if (ops.TERMINAL_STATUSES.includes(op.status)) {
    throw new ApiError('invalid_state', `Operation ${op.id} has already ended (${op.status}).`);
  }
  // Pausable per the registry (workflows/registry.ts): the workflow handles the pause/resume updates.
  if (!PAUSABLE_TYPES.some((t) => t === op.type)) {
    throw new ApiError(
      'invalid_state',
      `Operations of type ${op.type} cannot be paused or resumed; only ${PAUSABLE_TYPES.join(', ')}.`,
    );
  }
  const handle = deps.temporal.workflow.getHandle(op.workflow_id);
  try {
    await deps.temporal.connection.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
      action === 'pause'
        ? handle.executeUpdate(pauseUpdate, { args: [reason ? { reason } : {}] })
        : handle.executeUpdate(resumeUpdate),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof Error ? err.cause.message : err.message;
      throw new ApiError('invalid_state', `Operation ${op.id} cannot ${action}: ${cause}`);
    }
    if (err instanceof WorkflowNotFoundError)
      throw new ApiError('invalid_state', `Operation ${op.id} is no longer running.`);
    deps.logger.warn(`${action} update failed`, { operation_id: op.id, err: String(err) });
    // The update may still be applied after this answer (it was sent; only its answer is missing).
    throw new ApiError(
      'service_unavailable',
      `The workflow did not answer the ${action} request within ${UPDATE_TIMEOUT_MS / 1000} s; it may still take effect, so its outcome is unknown. ` +
        `See GET /v1/operations/${op.id} (status and logs) before sending it again; sending it again is safe.`,
      { operation_id: op.id },
    );
  }
}
