import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { WEBHOOK_DISPATCH_WORKFLOW_TYPE, webhookDispatchScheduleId } from '../workflows/contracts';

/**
 * Ensures the Temporal Schedule that starts the webhook dispatcher every
 * `config.webhookDispatchMs` on this worker's task queue (docs/api.md §Webhooks): it turns the
 * deliveries written with each event into one delivery workflow each. Same shape as the settler's
 * schedule (worker/settler-schedule.ts): idempotent, visible in the Web UI, overlapping runs skipped.
 */
export async function ensureWebhookDispatchSchedule(
  client: Client,
  config: Config,
  logger: Logger,
): Promise<'created' | 'updated' | 'disabled'> {
  if (config.webhookDispatchMs <= 0) return 'disabled';
  const scheduleId = webhookDispatchScheduleId(config.temporal.taskQueue);
  const every = config.webhookDispatchMs;
  const action = {
    type: 'startWorkflow' as const,
    workflowType: WEBHOOK_DISPATCH_WORKFLOW_TYPE,
    workflowId: scheduleId,
    taskQueue: config.temporal.taskQueue,
    // The configured retry schedule rides with every dispatcher run (updated at each worker start).
    args: [{ retry: { ...config.webhookRetry } }],
    workflowRunTimeout: 10 * 60_000,
    staticSummary: 'NodeFoundry webhooks: starts a delivery workflow for each new event a webhook subscribes to',
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      state: { note: 'Created by the NodeFoundry worker (NF_WEBHOOK_DISPATCH_MS). See docs/api.md, Webhooks.' },
    });
    logger.info('webhook dispatch schedule created', { schedule_id: scheduleId, every_ms: every });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec: { intervals: [{ every }] }, action }));
  logger.info('webhook dispatch schedule updated', { schedule_id: scheduleId, every_ms: every });
  return 'updated';
}
