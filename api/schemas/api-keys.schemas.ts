import type { JSONSchemaType } from 'ajv';
import { idPattern } from '../../lib/ids';
import { KEY_KINDS, type KeyKind } from '../../lib/secrets';
import {
  allRequired,
  dataResponseSchema,
  nullableString,
  nullableTimestamp,
  timestamp,
  type SchemaObject,
} from './common.schemas';

export interface CreateApiKeyBody {
  kind: KeyKind;
  name?: string | null;
}

export const createApiKeyBodySchema: JSONSchemaType<CreateApiKeyBody> = {
  type: 'object',
  properties: {
    kind: {
      type: 'string',
      enum: [...KEY_KINDS],
      description: '`live` (nf_sk_live_), `test` (nf_sk_test_, sandbox) or `ro` (nf_sk_ro_, live, GET only).',
    },
    name: {
      type: 'string',
      minLength: 1,
      maxLength: 100,
      pattern: '^[^\\x00-\\x1f\\x7f]+$',
      nullable: true,
      description: 'A label for humans.',
    },
  },
  required: ['kind'],
  additionalProperties: false,
};

export const apiKeyViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('key') },
    kind: { type: 'string', enum: [...KEY_KINDS] },
    name: nullableString,
    hint: { type: 'string', description: 'The prefix and first characters of the key, e.g. nf_sk_test_AbC1….' },
    created_at: timestamp,
    last_used_at: { ...nullableTimestamp, description: 'Updated at most once a minute.' },
    revoked_at: nullableTimestamp,
  },
});

export const createdApiKeyResponseSchema = dataResponseSchema({
  ...apiKeyViewSchema,
  required: [...(apiKeyViewSchema.required as string[]), 'key'],
  properties: {
    ...(apiKeyViewSchema.properties as SchemaObject),
    key: {
      type: ['string', 'null'],
      description: 'The secret, shown in this response only. Null in an Idempotency-Key replay: it is never stored.',
    },
  },
});
