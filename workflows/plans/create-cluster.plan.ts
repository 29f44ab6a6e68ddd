/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/create-cluster.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { createClusterPlan, type CreateClusterParams } from '../../lib/plans/create-cluster.planner';
import { planRead } from '../activity-options';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/create-cluster.planner';

const read = proxyActivities<Activities>(planRead);

/** Dry run of a cluster creation: read the nodes, plan, change nothing. */
export async function planCreateCluster(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as CreateClusterParams;
  const facts = await read.describeClusterCreate.executeWithOptions({ summary: 'read the nodes (dry run)' }, [
    { accountId: input.accountId, environment: params.environment ?? 'sandbox', clusterId: null, name: params.name, nodeIds: params.nodeIds },
  ]);
  const { layout: _layout, ...plan } = createClusterPlan(facts, params);
  return plan;
}
