import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { SETTLE_WORKFLOW_TYPE, settlerScheduleId, type SettleOperationsInput } from '../workflows/contracts';

/**
 * Ensures the Temporal Schedule that starts the settler every `config.settle.intervalMs` on this
 * worker's task queue (docs/operators.md §Settling). Idempotent: a schedule that exists already is
 * brought to the configured interval. Temporal runs it, not a loop of ours: it survives worker
 * restarts, shows in the Web UI (Schedules) and can be triggered or paused there. Overlapping runs
 * are skipped; a run is bounded so a settler stuck on a dead task queue never blocks the next ones.
 */
export async function ensureSettlerSchedule(
  client: Client,
  config: Config,
  logger: Logger,
): Promise<'created' | 'updated' | 'disabled'> {
  if (config.settle.intervalMs <= 0) return 'disabled';
  const scheduleId = settlerScheduleId(config.temporal.taskQueue);
  const every = config.settle.intervalMs;
  const args: [SettleOperationsInput] = [{}];
  const action = {
    type: 'startWorkflow' as const,
    workflowType: SETTLE_WORKFLOW_TYPE,
    workflowId: `nodefoundry-settler/${config.temporal.taskQueue}`,
    taskQueue: config.temporal.taskQueue,
    args,
    workflowRunTimeout: 30 * 60_000,
    staticSummary: 'NodeFoundry settler: ends operations whose workflow closed without recording its end',
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      state: { note: 'Created by the NodeFoundry worker (NF_SETTLE_INTERVAL_MS). See docs/operators.md, Settling.' },
    });
    logger.info('settler schedule created', { schedule_id: scheduleId, every_ms: config.settle.intervalMs });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec: { intervals: [{ every }] }, action }));
  logger.info('settler schedule updated', { schedule_id: scheduleId, every_ms: config.settle.intervalMs });
  return 'updated';
}
