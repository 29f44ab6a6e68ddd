import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { dbWrite, settleOne } from './activity-options';
import type { SettleOperationsInput, SettleOperationsResult } from './contracts';
import { describeFailure } from './operation-tracker';

const find = proxyActivities<Activities>({ ...dbWrite, heartbeatTimeout: '1 minute', startToCloseTimeout: '10 minutes', retry: { ...dbWrite.retry, maximumAttempts: 3 } });
const settle = proxyActivities<Activities>(settleOne);

/**
 * The settler (docs/operators.md §Settling), started by a Temporal Schedule: finds operations whose
 * workflow closed without recording its end (terminated from the Web UI, timed out) or that never
 * got one, and settles each: children stopped, the changes its ledger holds open undone, its rows
 * put back, then ended with an error naming what was repaired and what is left, locks released.
 * One operation's failure does not stop the others; the next scheduled run retries it.
 */
export async function settleOperationsWorkflow(input: SettleOperationsInput = {}): Promise<SettleOperationsResult> {
  const ids = await find.findUnsettledOperations.executeWithOptions({ summary: 'find operations whose workflow closed without an end' }, [
    { accountId: input.accountId ?? null },
  ]);
  const result: SettleOperationsResult = { settled: [], failed: [] };
  for (const operationId of ids) {
    try {
      const r = await settle.settleOperation.executeWithOptions({ summary: `settle ${operationId}` }, [{ operationId }]);
      if (r.settled) result.settled.push(operationId);
    } catch (err) {
      result.failed.push({ operation_id: operationId, message: describeFailure(err).message });
    }
  }
  return result;
}
