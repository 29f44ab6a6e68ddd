import { ApplicationFailure } from '@temporalio/common';
import type { ActivityDeps } from './deps';
import * as ops from '../db/repositories/operations.repository';
import { FAILURE, type OperationSnapshot } from '../workflows/contracts';
import { closeAllOpen } from '../db/repositories/operation-changes.repository';
import { keepTargetWeights } from '../db/repositories/osd-weights.repository';

export function createOperationActivities(deps: ActivityDeps) {
  return {
    /**
     * Marks the row in_progress so lists and filters see running work. A fence, too: an operation
     * the API ended as `not_started` (it established that Temporal had no workflow, undid the
     * request's rows and released its locks) must not be run by a start that landed late; the
     * workflow fails here, before its first step, and its record stays the API's.
     */
    async markOperationStarted(input: { operationId: string }): Promise<void> {
      if (await ops.markOperationStarted(deps.db, input.operationId)) return;
      const row = await ops.getOperationById(deps.db, input.operationId);
      if (row && row.status === 'failed' && row.error?.code === 'not_started') {
        throw ApplicationFailure.create({
          type: FAILURE.invalidState,
          nonRetryable: true,
          message: `Operation ${input.operationId} was ended as never started before its workflow ran; this late start does nothing.`,
        });
      }
    },

    /** Writes the final state and releases the operation's resource locks, atomically. */
    async finishOperation(input: { operationId: string; snapshot: OperationSnapshot }): Promise<void> {
      const s = input.snapshot;
      // A completed reweight/drain left its OSD at its target: recorded before the row closes, so
      // the monitor never sees the operation ended with the old expected weight (drift check).
      if (s.status === 'completed') await keepTargetWeights(deps.db, input.operationId);
      await ops.finishOperation(deps.db, input.operationId, {
        status: s.status,
        progress: s.progress,
        current_step: s.current_step,
        steps: s.steps,
        logs: s.logs,
        error: s.error,
        result: s.result,
        started_at: s.started_at,
        completed_at: s.completed_at,
      });
      // What is still open in the ledger is the operation's result, or was reported by its compensation.
      await closeAllOpen(
        deps.db,
        input.operationId,
        s.status === 'completed' ? 'kept' : 'left',
        s.status === 'completed' ? 'the operation completed' : `the operation ended ${s.status}; see its error`,
      );
      deps.logger.info('operation finished', {
        operation_id: input.operationId,
        status: s.status,
        error: s.error?.code,
      });
    },
  };
}
