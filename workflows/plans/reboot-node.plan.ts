/**
 * The dry run of this operation: reads the live state through activities, then plans with the pure
 * planner (lib/plans/reboot-node.planner.ts, which the API and the activities import directly). Re-exports
 * the planner so workflow code keeps one import path.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { rebootPlan, type RebootFacts, type RebootParams } from '../../lib/plans/reboot-node.planner';
import { planRead } from '../activity-options';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/reboot-node.planner';

const read = proxyActivities<Activities>(planRead);

/** Dry run of a reboot: read the live state, plan, change nothing. */
export async function planRebootNode(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as RebootParams;
  const node = await read.describeNode.executeWithOptions({ summary: 'read node (dry run)' }, [{ nodeId: input.resourceId }]);
  let osdIds: number[] = [];
  let okToStop: RebootFacts['okToStop'];
  if (node.clusterId) {
    const clusterId = node.clusterId;
    osdIds = await read.hostOsds.executeWithOptions({ summary: `list OSDs on ${node.hostname} (dry run)` }, [{ clusterId, host: node.hostname }]);
    okToStop = await read.checkOkToStop.executeWithOptions({ summary: 'ceph osd ok-to-stop (dry run)' }, [{ clusterId, osdIds }]);
  }
  return rebootPlan({ node, osdIds, ...(okToStop ? { okToStop } : {}) }, params);
}
