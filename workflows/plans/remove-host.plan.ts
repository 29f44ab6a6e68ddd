/**
 * The dry run of removing a host: reads the live state through an activity, then plans with the
 * pure planner (lib/plans/remove-host.planner.ts). Re-exports the planner for workflow code.
 */
import { removeHostPlan } from '../../lib/plans/remove-host.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/remove-host.planner';

/** Dry run of DELETE /v1/clusters/{id}/nodes/{node_id}: read, plan, change nothing. */
export async function planRemoveHost(input: PlanInput): Promise<OperationPlan> {
  const nodeId = String((input.params as { nodeId?: unknown }).nodeId ?? '');
  const facts = await act.readRemoveHostFactsForPlan.executeWithOptions({ summary: `read the cluster (dry run)` }, [
    { clusterId: input.resourceId, nodeId },
  ]);
  return removeHostPlan(facts);
}
