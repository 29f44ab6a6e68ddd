// The workflow bundle's entry: every workflow type the worker serves (names in contracts.ts WORKFLOW_TYPES).
export { registerNodeWorkflow } from './register-node.workflow';
export { rebootNodeWorkflow } from './reboot-node.workflow';
export { planOperationWorkflow } from './plan-operation.workflow';
export { upgradeClusterWorkflow } from './upgrade-cluster.workflow';
export { upgradeHostWorkflow } from './upgrade-host.workflow';
