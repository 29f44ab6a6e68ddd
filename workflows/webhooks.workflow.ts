import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { describeFailure } from './operation-tracker';

/** Deliveries one dispatcher run starts at most (the next scheduled run takes the rest). */
const DISPATCH_BATCH = 100;

/**
 * One delivery (workflow id = the delivery's id, so it is started at most once): the POST, retried
 * with backoff by Temporal's retry policy (activity-options.ts, webhookPost); when every attempt
 * failed, the delivery is marked failed and a webhook failing for long is disabled.
 */
export async function deliverWebhookWorkflow(input: { deliveryId: string }): Promise<string> {
  try {
    return await act.deliverWebhook.executeWithOptions({ summary: `deliver ${input.deliveryId}` }, [input]);
  } catch (err) {
    const { disabled } = await act.failWebhookDelivery.executeWithOptions({ summary: 'record the failure' }, [input]);
    return `failed: ${describeFailure(err).message}${disabled ? ' (webhook disabled)' : ''}`;
  }
}

/**
 * The dispatcher, started by a Temporal Schedule (worker/webhook-schedule.ts): starts one
 * deliverWebhookWorkflow per delivery written with its event (the outbox), then marks them
 * dispatched. A crash between the two starts nothing twice: the next run's start of the same
 * workflow id is refused (REJECT_DUPLICATE) and counted as already started.
 */
export async function dispatchWebhooksWorkflow(): Promise<{ started: number }> {
  const ids = await act.findUndispatchedDeliveries.executeWithOptions({ summary: 'find new deliveries' }, [
    { limit: DISPATCH_BATCH },
  ]);
  let started = 0;
  for (const deliveryId of ids) {
    try {
      await startChild(deliverWebhookWorkflow, {
        workflowId: deliveryId,
        args: [{ deliveryId }],
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
