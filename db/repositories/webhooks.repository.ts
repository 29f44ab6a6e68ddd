import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import type { Database, DeliveryAttempt, Event, Executor, Webhook, WebhookDelivery } from '../database';
import { json } from '../database';
import { recordEvent, TEST_EVENT_TYPE } from './events.repository';
import type { Scope } from './operations.repository';

export async function insertWebhook(
  db: Executor,
  w: { id: string; scope: Scope; url: string; events: string[]; secretEnc: string },
): Promise<Webhook> {
  return db
    .insertInto('webhooks')
    .values({
      id: w.id,
      account_id: w.scope.accountId,
      environment: w.scope.environment,
      url: w.url,
      events: w.events,
      secret_enc: w.secretEnc,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getScopedWebhook(db: Executor, scope: Scope, id: string): Promise<Webhook | undefined> {
  return db
    .selectFrom('webhooks')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment)
    .executeTakeFirst();
}

export async function listWebhooks(
  db: Executor,
  scope: Scope,
  page: { limit: number; offset: number },
): Promise<{ rows: Webhook[]; total: number }> {
  const q = db
    .selectFrom('webhooks')
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** Deletes the webhook and its deliveries (a running delivery finds it gone and stops). */
export async function deleteScopedWebhook(db: Executor, scope: Scope, id: string): Promise<boolean> {
  const res = await db
    .deleteFrom('webhooks')
    .where('id', '=', id)
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function listDeliveries(
  db: Executor,
  webhookId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: (WebhookDelivery & { event_type: string })[]; total: number }> {
  const q = db.selectFrom('webhook_deliveries').where('webhook_id', '=', webhookId);
  const [rows, count] = await Promise.all([
    q
      .innerJoin('events', 'events.id', 'webhook_deliveries.event_id')
      .selectAll('webhook_deliveries')
      .select('events.type as event_type')
      .orderBy('events.seq', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** Pending deliveries whose workflow has not been started yet, oldest event first. */
export async function undispatchedDeliveryIds(db: Executor, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('status', '=', 'pending')
    .where('dispatched_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * The same deliveries as undispatchedDeliveryIds, with the names a workflow summary shows: the
 * event's type, its cluster's name and node's hostname (when it has them) and the webhook's host.
 */
export async function undispatchedDeliveriesNamed(
  db: Executor,
  limit: number,
): Promise<
  {
    id: string;
    event_type: string;
    cluster_name: string | null;
    hostname: string | null;
    operation_id: string | null;
    url: string;
  }[]
> {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('events as e', 'e.id', 'd.event_id')
    .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
    .leftJoin('clusters as c', 'c.id', 'e.cluster_id')
    .leftJoin('nodes as n', 'n.id', 'e.node_id')
    .select([
      'd.id as id',
      'e.type as event_type',
      'c.name as cluster_name',
      'n.hostname as hostname',
      'e.operation_id as operation_id',
      'w.url as url',
    ])
    .where('d.status', '=', 'pending')
    .where('d.dispatched_at', 'is', null)
    .orderBy('d.created_at')
    .orderBy('d.id')
    .limit(limit)
    .execute();
}

export async function markDispatched(db: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_deliveries')
    .set({ dispatched_at: sql`now()` })
    .where('id', 'in', ids)
    .execute();
}

/** A delivery with what it needs to be sent (null: the delivery or its webhook is gone). */
export async function deliveryToSend(
  db: Executor,
  id: string,
): Promise<{ delivery: WebhookDelivery; webhook: Webhook; event: Event } | null> {
  const delivery = await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  if (!delivery) return null;
  const webhook = await db.selectFrom('webhooks').selectAll().where('id', '=', delivery.webhook_id).executeTakeFirst();
  const event = await db.selectFrom('events').selectAll().where('id', '=', delivery.event_id).executeTakeFirst();
  return webhook && event ? { delivery, webhook, event } : null;
}

/** Appends one attempt to the delivery's log; `end` ends it (delivered or failed). */
export async function recordAttempt(
  db: Executor,
  id: string,
  attempt: DeliveryAttempt,
  end: 'delivered' | 'failed' | null,
): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({
      attempts: sql`attempts || ${json([attempt])}::jsonb`,
      ...(end ? { status: end, completed_at: sql`now()` } : {}),
    })
    .where('id', '=', id)
    .execute();
}

export async function endDelivery(db: Executor, id: string, status: 'delivered' | 'failed'): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status, completed_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * A pending delivery of a disabled webhook (disabled while this delivery was being retried): ended
 * `failed`, with a last entry in its log saying it was not sent and why. Only while still pending.
 */
export async function endDisabledDelivery(db: Executor, id: string): Promise<void> {
  const note: DeliveryAttempt = {
    at: new Date().toISOString(),
    status_code: null,
    error: 'not sent: the webhook was disabled',
    duration_ms: 0,
  };
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', completed_at: sql`now()`, attempts: sql`attempts || ${json([note])}::jsonb` })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * Disables the webhook when its last `threshold` ended deliveries all failed (each after every retry):
 * an endpoint failing for a long time. Answers whether this call disabled it.
 */
export async function disableIfFailing(db: Executor, webhookId: string, threshold: number): Promise<boolean> {
  const last = await db
    .selectFrom('webhook_deliveries')
    .select('status')
    .where('webhook_id', '=', webhookId)
    .where('status', '<>', 'pending')
    .orderBy('completed_at', 'desc')
    .limit(threshold)
    .execute();
  if (last.length < threshold || last.some((d) => d.status !== 'failed')) return false;
  const res = await db
    .updateTable('webhooks')
    .set({
      disabled_at: sql`now()`,
      disabled_reason: `its last ${threshold} deliveries failed after every retry; delete it and create it again once the receiver works`,
    })
    .where('id', '=', webhookId)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** A `webhook.test` event and its one delivery, to this webhook only (in the caller's transaction). */
export async function recordTestDelivery(
  trx: Transaction<Database>,
  webhook: Webhook,
  deliveryId: string,
): Promise<{ eventId: string }> {
  const event = await recordEvent(trx, {
    accountId: webhook.account_id,
    environment: webhook.environment,
    type: TEST_EVENT_TYPE,
    data: { webhook_id: webhook.id, message: 'A test delivery requested through the API.' },
  });
  await trx
    .insertInto('webhook_deliveries')
    .values({ id: deliveryId, webhook_id: webhook.id, event_id: event.id })
    .execute();
  return { eventId: event.id };
}
