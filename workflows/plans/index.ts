import type { OperationPlan, OperationType, PlanInput } from '../contracts';
import { planCreateCluster } from './create-cluster.plan';
import { planDeleteCluster } from './delete-cluster.plan';
import { planRebootNode } from './reboot-node.plan';
import { planReweightOsd } from './reweight-osd.plan';
import { planUpgradeCluster } from './upgrade-cluster.plan';

/** The dry-run planner of each operation type that has one (`?dry_run=true`). */
export const PLANNERS: Partial<Record<OperationType, (input: PlanInput) => Promise<OperationPlan>>> = {
  'node.reboot': planRebootNode,
  'osd.reweight': planReweightOsd,
  'cluster.create': planCreateCluster,
  'cluster.delete': planDeleteCluster,
  'cluster.upgrade': planUpgradeCluster,
};
