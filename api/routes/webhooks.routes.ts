import { randomBytes } from 'node:crypto';
import type { Webhook, WebhookDelivery } from '../../db/database';
import {
  deleteScopedWebhook,
  getScopedWebhook,
  insertWebhook,
  listDeliveries,
  listWebhooks,
  recordTestDelivery,
} from '../../db/repositories/webhooks.repository';
import { idPattern, isId, newId } from '../../lib/ids';
import { encryptSecret } from '../../lib/secrets';
import { webhookUrlProblem } from '../../lib/webhooks';
import { authOf, type ApiDeps, type AuthState } from '../context';
import { ApiError } from '../errors';
import {
  dataResponseSchema,
  emptyBodySchema,
  emptyQuerySchema,
  limitOffset,
  listBody,
  listResponseSchema,
  pageQuerySchema,
} from '../schemas/common.schemas';
import {
  createdWebhookResponseSchema,
  createWebhookBodySchema,
  deliveryViewSchema,
  webhookViewSchema,
} from '../schemas/webhooks.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import type { RouteTable } from './route-table';

const validCreate = bodyValidator(createWebhookBodySchema);
const validList = queryValidator(pageQuerySchema);
const validNoQuery = queryValidator(emptyQuerySchema);
const validNoBody = bodyValidator(emptyBodySchema);
const idParam = [{ name: 'id', pattern: idPattern('webhook'), description: 'Webhook id (wh_…).' }];

export function webhookView(w: Webhook) {
  return {
    id: w.id,
    url: w.url,
    events: w.events,
    status: w.disabled_at ? ('disabled' as const) : ('enabled' as const),
    disabled_reason: w.disabled_reason,
    disabled_at: w.disabled_at?.toISOString() ?? null,
    created_at: w.created_at.toISOString(),
  };
}

function deliveryView(d: WebhookDelivery & { event_type: string }) {
  return {
    id: d.id,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status,
    attempts: d.attempts,
    created_at: d.created_at.toISOString(),
    completed_at: d.completed_at?.toISOString() ?? null,
  };
}

async function webhookOr404(deps: ApiDeps, auth: AuthState, id: string): Promise<Webhook> {
  const w = isId('webhook', id) ? await getScopedWebhook(deps.db, auth, id) : undefined;
  if (!w) throw new ApiError('webhook_not_found', `No webhook with ID ${id} exists in this account.`);
  return w;
}

export function addWebhookRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'post',
      path: '/v1/webhooks',
      operationId: 'createWebhook',
      summary: 'Create a webhook',
      description:
        'Subscribes `url` to `events`. The signing secret is in this response only. Live keys may not target loopback, link-local, metadata or private addresses unless NF_WEBHOOK_ALLOW_CIDRS allows them (400 address_not_allowed).',
      tag: 'Webhooks',
      auth: true,
      body: createWebhookBodySchema,
      responses: { 201: { description: 'Created; `secret` shown once.', schema: createdWebhookResponseSchema } },
    },
    async (ctx) => {
      const body = parse(validCreate, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const problem = await webhookUrlProblem(body.url, auth.environment, deps.config.webhookAllowCidrs);
      if (problem) {
        throw new ApiError('address_not_allowed', `url ${problem}: NodeFoundry does not deliver webhooks there.`, {
          field: 'url',
        });
      }
      const secret = `whsec_${randomBytes(32).toString('hex')}`;
      const w = await insertWebhook(deps.db, {
        id: newId('webhook'),
        scope: auth,
        url: body.url,
        events: body.events,
        secretEnc: encryptSecret(deps.config.secretKey, secret),
      });
      ctx.status = 201;
      ctx.body = { data: { ...webhookView(w), secret } };
      ctx.state.idempotentReplayBody = { data: { ...webhookView(w), secret: null } };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/webhooks',
      operationId: 'listWebhooks',
      summary: 'List webhooks',
      description: 'Newest first. Never shows secrets.',
      tag: 'Webhooks',
      auth: true,
      query: pageQuerySchema,
      responses: { 200: { description: 'A page of webhooks.', schema: listResponseSchema(webhookViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const { rows, total } = await listWebhooks(deps.db, authOf(ctx), limitOffset(q));
      ctx.body = listBody(rows.map(webhookView), total, q);
    },
  );

  table.add(
    {
      method: 'delete',
      path: '/v1/webhooks/{id}',
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook',
      description: 'No further deliveries; its delivery log goes with it.',
      tag: 'Webhooks',
      auth: true,
      pathParams: idParam,
      responses: { 204: { description: 'Deleted.' } },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const id = ctx.params.id ?? '';
      if (!isId('webhook', id) || !(await deleteScopedWebhook(deps.db, auth, id))) {
        throw new ApiError('webhook_not_found', `No webhook with ID ${id} exists in this account.`);
      }
      ctx.status = 204;
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/webhooks/{id}/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: "List a webhook's deliveries",
      description: 'Newest event first; each with every attempt (when, the status code or the error, how long).',
      tag: 'Webhooks',
      auth: true,
      pathParams: idParam,
      query: pageQuerySchema,
      responses: { 200: { description: 'A page of deliveries.', schema: listResponseSchema(deliveryViewSchema) } },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const w = await webhookOr404(deps, authOf(ctx), ctx.params.id ?? '');
      const { rows, total } = await listDeliveries(deps.db, w.id, limitOffset(q));
      ctx.body = listBody(rows.map(deliveryView), total, q);
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/webhooks/{id}/test',
      operationId: 'testWebhook',
      summary: 'Send a test delivery',
      description:
        'Records a `webhook.test` event and delivers it to this webhook only, signed and retried like every delivery (a disabled webhook: 409 invalid_state). Watch it in GET /v1/webhooks/{id}/deliveries.',
      tag: 'Webhooks',
      auth: true,
      pathParams: idParam,
      body: emptyBodySchema,
      responses: {
        202: {
          description: 'Queued; the dispatcher starts its delivery within NF_WEBHOOK_DISPATCH_MS.',
          schema: dataResponseSchema({
            type: 'object',
            required: ['delivery_id', 'event_id'],
            properties: {
              delivery_id: { type: 'string', pattern: idPattern('delivery') },
              event_id: { type: 'string', pattern: idPattern('event') },
            },
          }),
        },
      },
    },
    async (ctx) => {
      parse(validNoBody, ctx.state.body ?? {}, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const w = await webhookOr404(deps, authOf(ctx), ctx.params.id ?? '');
      if (w.disabled_at) {
        throw new ApiError('invalid_state', `Webhook ${w.id} is disabled: ${w.disabled_reason ?? ''}`);
      }
      const deliveryId = newId('delivery');
      const { eventId } = await deps.db.transaction().execute((trx) => recordTestDelivery(trx, w, deliveryId));
      ctx.status = 202;
      ctx.body = { data: { delivery_id: deliveryId, event_id: eventId } };
    },
  );
}
