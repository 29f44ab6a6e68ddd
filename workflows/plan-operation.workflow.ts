import { ApplicationFailure } from '@temporalio/workflow';
import { FAILURE, type OperationPlan, type PlanInput } from './contracts';
import * as planners from './plans';
import { isOperationType, OPERATIONS } from './registry';

/**
 * A dry run: reads the live state through the same activities the operation uses and returns the
 * plan the operation would execute, changing nothing. Short-lived; the API waits for its answer.
 * The planner is the registry entry's `planner`, a name the compiler checks against workflows/plans.
 */
export async function planOperationWorkflow(input: PlanInput): Promise<OperationPlan> {
  const name = isOperationType(input.type) ? OPERATIONS[input.type].planner : null;
  if (!name) throw ApplicationFailure.nonRetryable(`No dry run for ${input.type}.`, FAILURE.invalidState);
  return planners[name](input);
}
