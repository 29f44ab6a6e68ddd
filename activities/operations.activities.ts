import type { ActivityDeps } from './deps';
import * as ops from '../db/repositories/operations.repository';
import { closeAllOpen } from '../db/repositories/operation-changes.repository';
import type { OperationSnapshot } from '../workflows/contracts';

export function createOperationActivities(deps: ActivityDeps) {
  return {
    /** Marks the row in_progress so lists and filters see running work. */
    async markOperationStarted(input: { operationId: string }): Promise<void> {
      await ops.markOperationStarted(deps.db, input.operationId);
    },

    /** Writes the final state and releases the operation's resource locks, atomically. */
    async finishOperation(input: { operationId: string; snapshot: OperationSnapshot }): Promise<void> {
      const s = input.snapshot;
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
      deps.logger.info('operation finished', { operation_id: input.operationId, status: s.status, error: s.error?.code });
    },
  };
}
