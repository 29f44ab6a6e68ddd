/**
 * The dry run of an expansion: reads the live state through activities, then plans with the pure
 * planner (lib/plans/expand-cluster.planner.ts). Re-exports the planner for workflow code.
 */
import { DEFAULT_MAX_MISPLACED_RATIO, expandPlan, type ExpandParams } from '../../lib/plans/expand-cluster.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/expand-cluster.planner';

/** Dry run of adding hosts: read the cluster and the nodes, plan, change nothing. */
export async function planExpandCluster(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as ExpandParams;
  const facts = await act.describeClusterExpandForPlan.executeWithOptions(
    { summary: 'read the cluster and the nodes (dry run)' },
    [{ clusterId: input.resourceId, nodeIds: params.nodeIds }],
  );
  const {
    hosts: _h,
    schedule: _s,
    ...plan
  } = expandPlan(facts, {
    ...params,
    maxMisplacedRatio: params.maxMisplacedRatio ?? DEFAULT_MAX_MISPLACED_RATIO,
  });
  return plan;
}
