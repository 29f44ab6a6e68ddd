/**
 * What the compiler derives from the operation registry (registry.ts): each operation's workflow
 * function and input type. Types only — nothing here exists at run time, so the API imports it
 * without loading any workflow code. Kept apart from registry.ts so that the registry stays a leaf
 * (contracts.ts and the workflows import it; this module looks at them).
 */
import type { PLAN_WORKFLOW_TYPE, SETTLE_WORKFLOW_TYPE, UPGRADE_HOST_WORKFLOW_TYPE } from './contracts';
import type * as workflows from './index';
import type { OPERATIONS, OperationType } from './registry';

type Workflows = typeof workflows;

/** The workflow type (function name) of an operation type. */
export type WorkflowTypeOf<T extends OperationType> = (typeof OPERATIONS)[T]['workflowType'];

/** The workflow function an operation type runs; a name not exported from workflows/index.ts fails to compile. */
export type OperationWorkflow<T extends OperationType> = Workflows[WorkflowTypeOf<T>];

/** The input an operation type's workflow takes: what startOperation demands for that type. */
export type OperationInput<T extends OperationType> = Parameters<OperationWorkflow<T>>[0];

// The other workflow names the API and the worker pass as strings name exported workflows too.
type Exported<T extends keyof Workflows> = T;
export type InternalWorkflowTypes = Exported<
  typeof UPGRADE_HOST_WORKFLOW_TYPE | typeof SETTLE_WORKFLOW_TYPE | typeof PLAN_WORKFLOW_TYPE
>;
