// The workflow bundle's entry: every workflow type the worker serves. An operation's workflow is
// named by its entry in registry.ts (`workflowType`); the compiler and test/unit check it is here.
export { registerNodeWorkflow } from './register-node.workflow';
export { rebootNodeWorkflow } from './reboot-node.workflow';
export { planOperationWorkflow } from './plan-operation.workflow';
export { createClusterWorkflow } from './create-cluster.workflow';
export { deleteClusterWorkflow } from './delete-cluster.workflow';
export { createPoolWorkflow } from './create-pool.workflow';
export { deletePoolWorkflow } from './delete-pool.workflow';
export { upgradeClusterWorkflow } from './upgrade-cluster.workflow';
export { upgradeHostWorkflow } from './upgrade-host.workflow';
export { reweightOsdWorkflow } from './reweight-osd.workflow';
export { replaceOsdWorkflow } from './replace-osd.workflow';
export { removeHostWorkflow } from './remove-host.workflow';
export { importClusterWorkflow } from './import-cluster.workflow';
export { settleOperationsWorkflow } from './settle-operations.workflow';
export { deliverWebhookWorkflow, dispatchWebhooksWorkflow } from './webhooks.workflow';
export { monitorClusterWorkflow } from './monitor-cluster.workflow';
export { enterMaintenanceWorkflow, exitMaintenanceWorkflow } from './maintenance.workflow';
export { expandClusterWorkflow } from './expand-cluster.workflow';
