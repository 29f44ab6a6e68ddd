import type { Executor, Webhook, WebhookDelivery } from '../database';
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
