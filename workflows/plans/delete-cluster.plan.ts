/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/delete-cluster.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { deleteClusterPlan } from '../../lib/plans/delete-cluster.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/delete-cluster.planner';

export async function planDeleteCluster(input: PlanInput): Promise<OperationPlan> {
  const facts = await act.describeClusterDeleteForPlan.executeWithOptions({ summary: 'read the cluster (dry run)' }, [
    { clusterId: input.resourceId },
  ]);
  return deleteClusterPlan(facts);
}
