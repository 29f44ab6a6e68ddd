import { ApplicationFailure } from '@temporalio/workflow';
import { FAILURE, type OperationPlan, type PlanInput } from './contracts';
import { PLANNERS } from './plans';

/**
 * A dry run: reads the live state through the same activities the operation uses and returns the
 * plan the operation would execute, changing nothing. Short-lived; the API waits for its answer.
 */
export async function planOperationWorkflow(input: PlanInput): Promise<OperationPlan> {
  const planner = PLANNERS[input.type];
  if (!planner) throw ApplicationFailure.nonRetryable(`No dry run for ${input.type}.`, FAILURE.invalidState);
  return planner(input);
}
