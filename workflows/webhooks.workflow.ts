import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, patched, startChild } from '@temporalio/workflow';
import type { WebhookRetry } from './activity-options';
import { act, deliverWebhookRetrying } from './activity-proxies';
import { describeFailure } from './operation-tracker';

/** Deliveries one dispatcher run starts at most (the next scheduled run takes the rest). */
const DISPATCH_BATCH = 100;
/** patched() id of the configured retry schedule of a delivery (issue 11, second half). */
export const WEBHOOK_RETRY_FROM_CONFIG = 'webhook-retry-from-config';
/** patched() id of the deliveries' workflow summaries (issue 12 item 7). */
export const WEBHOOK_DELIVERY_SUMMARIES = 'webhook-delivery-summaries';

/**
 * One delivery (workflow id = the delivery's id, so it is started at most once): the POST, retried
 * with backoff by Temporal's retry policy (activity-options.ts, webhookPost); when every attempt
 * failed, the delivery is marked failed and a webhook failing for long is disabled.
 */
export async function deliverWebhookWorkflow(input: { deliveryId: string; retry?: WebhookRetry }): Promise<string> {
  const target = { deliveryId: input.deliveryId };
  // The configured retry schedule (NF_WEBHOOK_RETRY_*) came after the first histories were recorded:
  // a delivery started without one (recorded histories, a dispatcher of an older worker) keeps the preset.
  const deliver =
    input.retry && patched(WEBHOOK_RETRY_FROM_CONFIG) ? deliverWebhookRetrying(input.retry) : act.deliverWebhook;
  try {
    return await deliver.executeWithOptions({ summary: `deliver ${input.deliveryId}` }, [target]);
  } catch (err) {
    const { disabled } = await act.failWebhookDelivery.executeWithOptions({ summary: 'record the failure' }, [target]);
    return `failed: ${describeFailure(err).message}${disabled ? ' (webhook disabled)' : ''}`;
  }
}

/**
 * The dispatcher, started by a Temporal Schedule (worker/webhook-schedule.ts): starts one
 * deliverWebhookWorkflow per delivery written with its event (the outbox), then marks them
 * dispatched. A crash between the two starts nothing twice: the next run's start of the same
 * workflow id is refused (REJECT_DUPLICATE) and counted as already started. `retry`: the configured
 * retry schedule (NF_WEBHOOK_RETRY_*), given by the Schedule's action and passed to each delivery.
 */
export async function dispatchWebhooksWorkflow(input?: { retry?: WebhookRetry }): Promise<{ started: number }> {
  // Each delivery's summary names its event, cluster, host and receiver (Web UI); runs recorded
  // before it read the ids alone.
  const found = patched(WEBHOOK_DELIVERY_SUMMARIES)
    ? await act.findUndispatchedDeliveriesNamed.executeWithOptions({ summary: 'find new deliveries' }, [
        { limit: DISPATCH_BATCH },
      ])
    : (
        await act.findUndispatchedDeliveries.executeWithOptions({ summary: 'find new deliveries' }, [
          { limit: DISPATCH_BATCH },
        ])
      ).map((id) => ({ id, summary: null }));
  const ids = found.map((d) => d.id);
  let started = 0;
  for (const { id: deliveryId, summary } of found) {
    try {
      await startChild(deliverWebhookWorkflow, {
        ...(summary ? { staticSummary: summary } : {}),
        workflowId: deliveryId,
        args: [{ deliveryId, ...(input?.retry ? { retry: input.retry } : {}) }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowExecutionTimeout: '1 hour',
      });
      started++;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
  await act.markDeliveriesDispatched.executeWithOptions({ summary: 'mark dispatched' }, [{ ids }]);
  return { started };
}
