// The dry runs (`?dry_run=true`), under the names the operation registry (workflows/registry.ts,
// `planner`) gives them; planOperationWorkflow finds each by that name.
export { planCreateCluster } from './create-cluster.plan';
export { planDeleteCluster } from './delete-cluster.plan';
export { planRebootNode } from './reboot-node.plan';
export { planRemoveHost } from './remove-host.plan';
export { planReweightOsd } from './reweight-osd.plan';
export { planReplaceOsd } from './replace-osd.plan';
export { planUpgradeCluster } from './upgrade-cluster.plan';
export { planEnterMaintenance, planExitMaintenance } from './maintenance.plan';
export { planExpandCluster } from './expand-cluster.plan';
