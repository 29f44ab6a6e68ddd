/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/upgrade-cluster.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { upgradePlan, type UpgradeParams } from '../../lib/plans/upgrade-cluster.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/upgrade-cluster.planner';

/** Dry run of an upgrade: read the live state, plan, change nothing. */
export async function planUpgradeCluster(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as UpgradeParams;
  const facts = await act.describeUpgradeForPlan.executeWithOptions(
    { summary: 'read cluster state for the upgrade (dry run)' },
    [{ clusterId: input.resourceId }],
  );
  return upgradePlan(facts, params).plan;
}
