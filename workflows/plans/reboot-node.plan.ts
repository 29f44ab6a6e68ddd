/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/reboot-node.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { rebootPlan, type RebootFacts, type RebootParams } from '../../lib/plans/reboot-node.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/reboot-node.planner';

/** Dry run of a reboot: read the live state, plan, change nothing. */
export async function planRebootNode(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as RebootParams;
  const node = await act.describeNodeForPlan.executeWithOptions({ summary: 'read node (dry run)' }, [
    { nodeId: input.resourceId },
  ]);
  let osdIds: number[] = [];
  let okToStop: RebootFacts['okToStop'];
  if (node.clusterId) {
    const clusterId = node.clusterId;
    osdIds = await act.hostOsdsForPlan.executeWithOptions({ summary: `list OSDs on ${node.hostname} (dry run)` }, [
      { clusterId, host: node.hostname },
    ]);
    okToStop = await act.checkOkToStopForPlan.executeWithOptions({ summary: 'ceph osd ok-to-stop (dry run)' }, [
      { clusterId, osdIds },
    ]);
  }
  return rebootPlan({ node, osdIds, ...(okToStop ? { okToStop } : {}) }, params);
}
