/**
 * What a planner returns (a dry run answers with it; the real run executes its steps). Pure types,
 * re-exported by workflows/contracts.ts with `type` narrowed to the operation types.
 */

export interface PlanStep {
  name: string;
  description: string;
  /** The gates checked before or during this step. */
  checks: string[];
}

export interface PlanRefusal {
  code: string;
  message: string;
}

export interface OperationPlan<Type extends string = string> {
  type: Type;
  /** False when a refusal stops the operation before it changes anything. */
  would_run: boolean;
  refusals: PlanRefusal[];
  steps: PlanStep[];
  /** Hosts in the order they would be worked on, batch by batch (upgrades). */
  batches?: string[][];
  /** The live state the plan was made from. */
  facts: Record<string, unknown>;
}
