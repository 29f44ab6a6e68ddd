/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/create-cluster.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { createClusterPlan, type CreateClusterParams } from '../../lib/plans/create-cluster.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/create-cluster.planner';

/** Dry run of a cluster creation: read the nodes, plan, change nothing. */
export async function planCreateCluster(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as CreateClusterParams;
  const facts = await act.describeClusterCreateForPlan.executeWithOptions({ summary: 'read the nodes (dry run)' }, [
    {
      accountId: input.accountId,
      environment: params.environment ?? 'sandbox',
      clusterId: null,
      name: params.name,
      nodeIds: params.nodeIds,
    },
  ]);
  const { layout: _layout, ...plan } = createClusterPlan(facts, params);
  return plan;
}
