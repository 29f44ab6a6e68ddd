/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/reweight-osd.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { reweightPlan, type ReweightParams } from '../../lib/plans/reweight-osd.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/reweight-osd.planner';

/** Dry run of a reweight: read the live state, plan, change nothing. */
export async function planReweightOsd(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as ReweightParams;
  const facts = await act.readReweightFactsForPlan.executeWithOptions(
    { summary: `read osd.${params.osdId} (dry run)` },
    [{ clusterId: input.resourceId, osdId: params.osdId, drain: params.weight === 0, operationId: null }],
  );
  return reweightPlan(facts, params);
}
