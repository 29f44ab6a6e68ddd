/**
 * The dry run of a disk replacement: reads the live state through activities, then plans with the
 * pure planner (lib/plans/replace-osd.planner.ts). Re-exports the planner so workflow code keeps one
 * import path.
 */
import { replacePlan, type ReplaceParams } from '../../lib/plans/replace-osd.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/replace-osd.planner';

/** Dry run of a replacement: read the live state, plan, change nothing. */
export async function planReplaceOsd(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as ReplaceParams;
  const facts = await act.readReplaceFactsForPlan.executeWithOptions(
    { summary: `read osd.${params.osdId} (dry run)` },
    [{ clusterId: input.resourceId, osdId: params.osdId, device: params.device }],
  );
  return replacePlan(facts, params);
}
