/**
 * The dry runs of maintenance enter and exit: read the live state through activities, then plan with
 * the pure planners (lib/plans/maintenance.planner.ts). Re-exports the planners for workflow code.
 */
import {
  enterMaintenancePlan,
  exitMaintenancePlan,
  type EnterMaintenanceFacts,
  type EnterMaintenanceParams,
} from '../../lib/plans/maintenance.planner';
import { act } from '../activity-proxies';
import type { OperationPlan, PlanInput } from '../contracts';

export * from '../../lib/plans/maintenance.planner';

export async function planEnterMaintenance(input: PlanInput): Promise<OperationPlan> {
  const params = input.params as unknown as EnterMaintenanceParams;
  const node = await act.describeNodeForPlan.executeWithOptions({ summary: 'read node (dry run)' }, [
    { nodeId: input.resourceId },
  ]);
  let osdIds: number[] = [];
  let okToStop: EnterMaintenanceFacts['okToStop'];
  if (node.clusterId && node.status !== 'maintenance') {
    const clusterId = node.clusterId;
    osdIds = await act.hostOsdsForPlan.executeWithOptions({ summary: `list OSDs on ${node.hostname} (dry run)` }, [
      { clusterId, host: node.hostname },
    ]);
    okToStop = await act.checkOkToStopForPlan.executeWithOptions({ summary: 'ceph osd ok-to-stop (dry run)' }, [
      { clusterId, osdIds },
    ]);
  }
  return enterMaintenancePlan({ node, osdIds, ...(okToStop ? { okToStop } : {}) }, params);
}

export async function planExitMaintenance(input: PlanInput): Promise<OperationPlan> {
  const node = await act.describeNodeForPlan.executeWithOptions({ summary: 'read node (dry run)' }, [
    { nodeId: input.resourceId },
  ]);
  const record = await act.describeMaintenanceForPlan.executeWithOptions(
    { summary: 'read maintenance record (dry run)' },
    [{ nodeId: input.resourceId }],
  );
  return exitMaintenancePlan({ node, record });
}
