import { expandFacts } from '../../db/repositories/expand.repository';
import { expandPlan } from '../../lib/plans/expand-cluster.planner';
import { withHosts } from '../../lib/workflow-summary';
import type { OperationPlan } from '../../workflows/contracts';
import type { ApiDeps, AuthState } from '../context';
import { ApiError, ERROR_STATUS, type ErrorCode } from '../errors';
import type { ExpandClusterBody } from '../schemas/expand.schemas';
import { startOperation } from './operations.service';
import { clusterNotFound, getClusterOr404 } from './osds.service';
import { planOperation } from './plan.service';

export interface ExpandAccepted {
  operation_id: string;
  cluster_id: string;
  node_ids: string[];
  status: 'pending';
}

/** A planner refusal as the API's error: its own code where the API has it, else invalid_state naming it. */
function refusalError(r: { code: string; message: string }): ApiError {
  const known = Object.prototype.hasOwnProperty.call(ERROR_STATUS, r.code);
  return known
    ? new ApiError(r.code as ErrorCode, r.message, { field: 'node_ids' })
    : new ApiError('invalid_state', r.message, { reason: r.code });
}

/** `?dry_run=true`: the plan (capacity before and after, weight steps, refusals); nothing changes. */
export async function planExpand(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  body: ExpandClusterBody,
): Promise<OperationPlan> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  return planOperation(deps, {
    type: 'cluster.expand',
    accountId: auth.accountId,
    resourceId: clusterId,
    requestId,
    params: { nodeIds: body.node_ids, maxMisplacedRatio: body.max_misplaced_ratio },
    clusterId,
    nodeIds: body.node_ids,
    summary: (n) =>
      withHosts(
        `add hosts to ${cluster.name}`,
        body.node_ids.map((id) => n.hostname(id)),
      ),
  });
}

/**
 * Starts adding hosts. Locks the cluster (no other cluster-wide operation or reweight runs beside
 * it) and the new nodes; under those locks the same plan the workflow's preflight makes is made
 * from the database, and its first refusal is the answer (409): nothing is started or changed.
 */
export async function expandCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  clusterId: string,
  body: ExpandClusterBody,
): Promise<ExpandAccepted> {
  const cluster = await getClusterOr404(deps, auth, clusterId);
  const op = await startOperation(deps, {
    accountId: auth.accountId,
    environment: auth.environment,
    type: 'cluster.expand',
    requestId,
    primaryResourceId: clusterId,
    clusterId,
    lockResourceIds: [clusterId, ...body.node_ids],
    params: { node_ids: body.node_ids, max_misplaced_ratio: body.max_misplaced_ratio },
    input: (operationId) => ({
      operationId,
      accountId: auth.accountId,
      clusterId,
      nodeIds: body.node_ids,
      maxMisplacedRatio: body.max_misplaced_ratio,
    }),
    summary: (n) =>
      withHosts(
        `Add ${body.node_ids.length} host(s) to cluster ${cluster.name}`,
        body.node_ids.map((id) => n.hostname(id)),
      ),
    precheck: async (trx) => {
      const facts = await expandFacts(trx, clusterId, body.node_ids);
      if (!facts) throw clusterNotFound(clusterId);
      const refusal = expandPlan(facts, { nodeIds: body.node_ids, maxMisplacedRatio: body.max_misplaced_ratio })
        .refusals[0];
      if (refusal) throw refusalError(refusal);
    },
  });
  return { operation_id: op.id, cluster_id: clusterId, node_ids: body.node_ids, status: 'pending' };
}
