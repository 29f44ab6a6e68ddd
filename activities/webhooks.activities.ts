import { ApplicationFailure } from '@temporalio/activity';
import type { Event } from '../db/database';
import * as hooks from '../db/repositories/webhooks.repository';
import { decryptSecret } from '../lib/secrets';
import { webhookSignature, webhookUrlProblem } from '../lib/webhooks';
import { clipSummary } from '../lib/workflow-summary';
import type { ActivityDeps } from './deps';

/** Bound of one POST (below the webhookPost preset's startToClose). */
export const WEBHOOK_REQUEST_TIMEOUT_MS = 10_000;
/** A webhook whose last this-many deliveries all failed (after every retry) is disabled. */
export const WEBHOOK_DISABLE_AFTER = 5;

/** What a receiver gets: the event as GET /v1/events shows it. */
export function webhookBody(e: Event): string {
  return JSON.stringify({
    id: e.id,
    type: e.type,
    sequence: Number(e.seq),
    cluster_id: e.cluster_id,
    node_id: e.node_id,
    operation_id: e.operation_id,
    data: e.data,
    created_at: e.created_at.toISOString(),
  });
}

export function createWebhookActivities(deps: ActivityDeps) {
  return {
    /** Deliveries written with their events whose workflow is not started yet. */
    async findUndispatchedDeliveries(input: { limit: number }): Promise<string[]> {
      return hooks.undispatchedDeliveryIds(deps.db, input.limit);
    },

    /**
     * The same, each with its workflow summary (Web UI): the event, the cluster and host it is about
     * by name, and the receiving host (never the URL's path or query: they may hold a token).
     */
    async findUndispatchedDeliveriesNamed(input: { limit: number }): Promise<{ id: string; summary: string }[]> {
      const rows = await hooks.undispatchedDeliveriesNamed(deps.db, input.limit);
      return rows.map((r) => {
        const about = [
          ...(r.cluster_name ? [`cluster ${r.cluster_name}`] : []),
          ...(r.hostname ? [`host ${r.hostname}`] : []),
          ...(!r.cluster_name && !r.hostname && r.operation_id ? [r.operation_id] : []),
        ];
        let host = 'an invalid URL';
        try {
          host = new URL(r.url).host;
        } catch {
          // kept: the delivery itself reports the URL problem
        }
        return {
          id: r.id,
          summary: clipSummary(`Deliver ${r.event_type}${about.length ? ` (${about.join(', ')})` : ''} to ${host}`),
        };
      });
    },

    async markDeliveriesDispatched(input: { ids: string[] }): Promise<void> {
      await hooks.markDispatched(deps.db, input.ids);
    },

    /**
     * One attempt: POST the event, signed, to the webhook's URL (checked again: DNS may have changed),
     * no redirect followed, bounded by WEBHOOK_REQUEST_TIMEOUT_MS. Logged in the delivery either way;
     * anything but a 2xx throws (Temporal retries). `skipped`: the webhook is gone or disabled — a
     * delivery of a webhook disabled while it was being retried ends `failed` and says so, rather than
     * staying `pending` for ever.
     */
    async deliverWebhook(input: { deliveryId: string }): Promise<'delivered' | 'skipped'> {
      const found = await hooks.deliveryToSend(deps.db, input.deliveryId);
      if (!found) return 'skipped';
      if (found.delivery.status !== 'pending') return found.delivery.status === 'delivered' ? 'delivered' : 'skipped';
      if (found.webhook.disabled_at) {
        await hooks.endDisabledDelivery(deps.db, input.deliveryId);
        return 'skipped';
      }
      const { webhook, event } = found;
      const started = Date.now();
      const attempt = (status_code: number | null, error: string | null) => ({
        at: new Date(started).toISOString(),
        status_code,
        error,
        duration_ms: Date.now() - started,
      });
      const problem = await webhookUrlProblem(webhook.url, webhook.environment, deps.config.webhookAllowCidrs);
      if (problem) {
        await hooks.recordAttempt(deps.db, input.deliveryId, attempt(null, `url ${problem}`), null);
        throw ApplicationFailure.nonRetryable(`url ${problem}`, 'webhook_url_not_allowed');
      }
      const body = webhookBody(event);
      const timestamp = String(Math.floor(Date.now() / 1000));
      let secret: string;
      try {
        secret = decryptSecret(deps.config.secretKey, webhook.secret_enc);
      } catch {
        // Encrypted under another NF_SECRET_KEY: no retry can read it (docs/operators.md).
        const why = 'the signing secret cannot be decrypted with this NF_SECRET_KEY';
        await hooks.recordAttempt(deps.db, input.deliveryId, attempt(null, why), null);
        throw ApplicationFailure.nonRetryable(why, 'webhook_secret_unreadable');
      }
      let res: Response;
      try {
        res = await fetch(webhook.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(WEBHOOK_REQUEST_TIMEOUT_MS),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'NodeFoundry-Webhooks/1',
            'nf-event-id': event.id,
            'nf-delivery-id': input.deliveryId,
            'nf-timestamp': timestamp,
            'nf-signature': `v1=${webhookSignature(secret, timestamp, body)}`,
          },
          body,
        });
        await res.body?.cancel().catch(() => {});
      } catch (err) {
        const why =
          err instanceof Error && err.name === 'TimeoutError'
            ? `no answer within ${WEBHOOK_REQUEST_TIMEOUT_MS} ms`
            : `request failed: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`;
        await hooks.recordAttempt(deps.db, input.deliveryId, attempt(null, why), null);
        throw ApplicationFailure.retryable(why, 'webhook_unreachable');
      }
      if (res.status >= 200 && res.status < 300) {
        await hooks.recordAttempt(deps.db, input.deliveryId, attempt(res.status, null), 'delivered');
        return 'delivered';
      }
      const why = res.status >= 300 && res.status < 400 ? 'redirect (not followed)' : `answered ${res.status}`;
      await hooks.recordAttempt(deps.db, input.deliveryId, attempt(res.status, why), null);
      throw ApplicationFailure.retryable(why, 'webhook_rejected');
    },

    /** Every retry failed: the delivery is `failed`; an endpoint failing for long is disabled. */
    async failWebhookDelivery(input: { deliveryId: string }): Promise<{ disabled: boolean }> {
      const found = await hooks.deliveryToSend(deps.db, input.deliveryId);
      if (!found) return { disabled: false };
      await hooks.endDelivery(deps.db, input.deliveryId, 'failed');
      const disabled = await hooks.disableIfFailing(deps.db, found.webhook.id, WEBHOOK_DISABLE_AFTER);
      if (disabled) deps.logger.warn('webhook disabled', { webhook_id: found.webhook.id });
      return { disabled };
    },
  };
}
