import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  FAILURE,
  PLAN_WORKFLOW_TYPE,
  planWorkflowIdFor,
  type OperationPlan,
  type OperationType,
} from '../../workflows/contracts';
import type { PlanRefusal } from '../../lib/plans/plan';
import { ApiError } from '../errors';
import { readTargetNames, type OperationDeps, type TargetNames } from './operations.service';
import { clipSummary, workflowDetails } from '../../lib/workflow-summary';

const KNOWN_FAILURES: ReadonlySet<string> = new Set(Object.values(FAILURE));

export interface PlanRequest {
  type: OperationType;
  accountId: string;
  resourceId: string;
  requestId: string;
  params: Record<string, unknown>;
  /**
   * The dry run workflow's summary after `Dry run: ` (Web UI list), naming the cluster and hosts:
   * given the names of `clusterId` and `nodeIds` (this account's only).
   */
  summary: (names: TargetNames) => string;
  clusterId?: string | null;
  nodeIds?: readonly string[];
}

/**
 * A dry run. The live state (Ceph, BMCs) is read only by activities, so the plan is made by a short
 * read-only workflow running the same planner the operation runs; this is the one place where the
 * API waits for a workflow, bounded, because the client asked for an answer, not for work.
 */
export async function planOperation(deps: OperationDeps, req: PlanRequest): Promise<OperationPlan> {
  // Names are for the Web UI only: a dry run never fails for want of them.
  const names: TargetNames = await readTargetNames(deps.db, {
    accountId: req.accountId,
    clusterId: req.clusterId,
    nodeIds: req.nodeIds ?? [],
  }).catch((err: unknown) => {
    deps.logger.warn('dry run: names for the workflow summary not read', { err: String(err) });
    return { cluster: null, hosts: [], hostname: (id) => id ?? 'unknown host' };
  });
  try {
    return await deps.temporal.workflow.execute(PLAN_WORKFLOW_TYPE, {
      taskQueue: deps.config.temporal.taskQueue,
      workflowId: planWorkflowIdFor(req.type, req.resourceId, req.requestId),
      args: [{ type: req.type, accountId: req.accountId, resourceId: req.resourceId, params: req.params }],
      workflowExecutionTimeout: '60 seconds',
      staticSummary: clipSummary(`Dry run: ${req.summary(names)}`),
      staticDetails: workflowDetails({
        title: `NodeFoundry dry run of ${req.type} (nothing changes)`,
        cluster: names.cluster,
        hosts: names.hosts,
        lines: [`request: ${req.requestId}`],
      }),
    });
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? innermost(err) : null;
    // Only our own typed failures say why in the answer; anything else (a database error, say)
    // may carry text that is none of the client's business: it goes to the log only.
    if (cause instanceof ApplicationFailure && KNOWN_FAILURES.has(cause.type ?? '')) {
      throw new ApiError('service_unavailable', `The dry run could not read the live state: ${cause.message}`, {
        reason: cause.type ?? null,
      });
    }
    deps.logger.error('dry run failed', { type: req.type, resource_id: req.resourceId, err: String(err) });
    throw new ApiError('service_unavailable', 'The dry run could not be completed; nothing was changed. Try again.');
  }
}

/**
 * The refusal among `codes` that a dry run of `req` makes right now, asked before an operation starts
 * so the client gets it as a synchronous 409 rather than a failed operation later (issue 12 #4: a
 * reboot whose OSDs are not ok to stop). The same plan workflow and activities as `?dry_run=true`,
 * bounded by NF_PRECHECK_TIMEOUT_MS (Temporal closes the workflow at that bound too). Null when the
 * plan refuses none of them, and also when it cannot be had in time or cannot read the live state:
 * then the operation starts and its own preflight gate asks again (the check and the start race
 * anyway, so the gate stays); a check that could not be made is never a refusal.
 */
export async function synchronousRefusal(
  deps: OperationDeps,
  req: Omit<PlanRequest, 'summary' | 'clusterId' | 'nodeIds'> & { summary: string },
  codes: readonly string[],
): Promise<PlanRefusal | null> {
  const bound = deps.config.precheckTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    const plan = await Promise.race([
      deps.temporal.workflow.execute(PLAN_WORKFLOW_TYPE, {
        taskQueue: deps.config.temporal.taskQueue,
        workflowId: `${req.resourceId}/precheck-${req.type.split('.')[1]!}/${req.requestId}`,
        args: [{ type: req.type, accountId: req.accountId, resourceId: req.resourceId, params: req.params }],
        workflowExecutionTimeout: bound,
        staticSummary: clipSummary(`Check before ${req.summary}`),
      }) as Promise<OperationPlan>,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), bound + 1_000);
      }),
    ]);
    if (plan === null) throw new Error(`no answer within ${bound} ms`);
    return plan.refusals.find((r) => codes.includes(r.code)) ?? null;
  } catch (err) {
    deps.logger.warn('synchronous check skipped: the operation will check at its own gate', {
      type: req.type,
      resource_id: req.resourceId,
      err: String(err),
    });
    return null;
  } finally {
    clearTimeout(timer);
  }
}

function innermost(err: Error): unknown {
  let e: unknown = err;
  while (e instanceof Error && e.cause) e = e.cause;
  return e;
}
