import type { JSONSchemaType } from 'ajv';
import { EVENT_TYPES, type EventType } from '../../db/repositories/events.repository';
import { idPattern } from '../../lib/ids';
import { allRequired, nullableString, nullableTimestamp, timestamp, type SchemaObject } from './common.schemas';

export interface CreateWebhookBody {
  url: string;
  events: EventType[];
}

export const createWebhookBodySchema: JSONSchemaType<CreateWebhookBody> = {
  type: 'object',
  properties: {
    url: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      description:
        'http(s) URL. Live keys: no loopback, link-local, cloud metadata or private address unless NF_WEBHOOK_ALLOW_CIDRS allows it (docs/api.md §Webhooks).',
    },
    events: {
      type: 'array',
      minItems: 1,
      maxItems: EVENT_TYPES.length,
      uniqueItems: true,
      items: { type: 'string', enum: [...EVENT_TYPES] },
    },
  },
  required: ['url', 'events'],
  additionalProperties: false,
};

export const webhookViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('webhook') },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string', enum: [...EVENT_TYPES] } },
    status: { type: 'string', enum: ['enabled', 'disabled'] },
    disabled_reason: nullableString,
    disabled_at: nullableTimestamp,
    created_at: timestamp,
  },
});

export const createdWebhookResponseSchema: SchemaObject = {
  type: 'object',
  required: ['data'],
  properties: {
    data: {
      ...webhookViewSchema,
      required: [...(webhookViewSchema.required as string[]), 'secret'],
      properties: {
        ...(webhookViewSchema.properties as Record<string, unknown>),
        secret: {
          type: ['string', 'null'],
          description: 'The signing secret: in this response only (null on an Idempotency-Key replay).',
        },
      },
    },
  },
};

export const deliveryViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('delivery') },
    event_id: { type: 'string', pattern: idPattern('event') },
    event_type: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    attempts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'status_code', 'error', 'duration_ms'],
        properties: {
          at: timestamp,
          status_code: { type: ['integer', 'null'] },
          error: nullableString,
          duration_ms: { type: 'integer' },
        },
      },
    },
    created_at: timestamp,
    completed_at: nullableTimestamp,
  },
});
