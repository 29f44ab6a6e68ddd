import { act } from './activity-proxies';
import type { SettleOperationsInput, SettleOperationsResult } from './contracts';
import { describeFailure } from './operation-tracker';

/**
 * The settler (docs/operators.md §Settling), started by a Temporal Schedule: finds operations whose
 * workflow closed without recording its end (terminated from the Web UI, timed out) or that never
 * got one, and settles each: children stopped, the changes its ledger holds open undone, its rows
 * put back, then ended with an error naming what was repaired and what is left, locks released.
 * One operation's failure does not stop the others; the next scheduled run retries it.
 */
export async function settleOperationsWorkflow(input: SettleOperationsInput = {}): Promise<SettleOperationsResult> {
  const ids = await act.findUnsettledOperations.executeWithOptions(
    { summary: 'find operations whose workflow closed without an end' },
    [{ accountId: input.accountId ?? null }],
  );
  const result: SettleOperationsResult = { settled: [], failed: [] };
  for (const operationId of ids) {
    try {
      const r = await act.settleOperation.executeWithOptions({ summary: `settle ${operationId}` }, [{ operationId }]);
      if (r.settled) result.settled.push(operationId);
    } catch (err) {
      result.failed.push({ operation_id: operationId, message: describeFailure(err).message });
    }
  }
  return result;
}
