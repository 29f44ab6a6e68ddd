import type { JSONSchemaType } from 'ajv';
import { ERROR_STATUS } from '../errors';

/** JSON Schema objects used only to document responses (requests are validated with typed schemas). */
export type SchemaObject = Record<string, unknown>;

export const MAX_PER_PAGE = 100;

export interface PageQuery {
  page: number;
  per_page: number;
}

export const pageProperties = {
  page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1, description: 'Page number, from 1.' },
  per_page: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_PER_PAGE,
    default: 25,
    description: `Items per page (max ${MAX_PER_PAGE}).`,
  },
} as const;

export const pageQuerySchema: JSONSchemaType<PageQuery> = {
  type: 'object',
  properties: pageProperties,
  required: [],
  additionalProperties: false,
};

/** For routes that take no query parameters: any parameter is a 400, not silently ignored. */
export type EmptyQuery = Record<string, never>;
export const emptyQuerySchema = {
  type: 'object',
  properties: {},
  required: [],
  additionalProperties: false,
} as unknown as JSONSchemaType<EmptyQuery>;

/** For POSTs that take no parameters (cancel): no body, `{}`, and nothing else. */
export const emptyBodySchema = emptyQuerySchema;

export function limitOffset(q: PageQuery): { limit: number; offset: number } {
  return { limit: q.per_page, offset: (q.page - 1) * q.per_page };
}

export function listBody<T>(
  data: T[],
  total: number,
  q: PageQuery,
): { data: T[]; meta: { page: number; per_page: number; total: number } } {
  return { data, meta: { page: q.page, per_page: q.per_page, total } };
}

export const timestamp = { type: 'string', format: 'date-time' } as const;
export const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
export const nullableString = { type: ['string', 'null'] } as const;

export const errorResponseSchema: SchemaObject = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'request_id'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_STATUS) },
        message: { type: 'string' },
        request_id: { type: 'string' },
        field: {
          type: 'string',
          description: 'The offending field or parameter (validation_error, address_in_use, idempotency errors).',
        },
        operation_id: { type: 'string', description: 'The running operation (resource_busy).' },
        resource_id: { type: 'string', description: 'The busy resource (resource_busy).' },
        node_id: { type: 'string', description: 'The node already using the address (address_in_use).' },
      },
      additionalProperties: true,
    },
  },
};

/**
 * A response object whose every property is always present in answers (null when it has no value):
 * `required` lists them all, so a generated client types none of them optional.
 */
export function allRequired(schema: SchemaObject): SchemaObject {
  return { ...schema, required: Object.keys((schema.properties ?? {}) as object) };
}

/** The `meta` of every list answer (one object, so the OpenAPI document names it PageMeta). */
export const pageMetaSchema: SchemaObject = {
  type: 'object',
  required: ['page', 'per_page', 'total'],
  properties: { page: { type: 'integer' }, per_page: { type: 'integer' }, total: { type: 'integer' } },
};

export function listResponseSchema(item: SchemaObject): SchemaObject {
  return {
    type: 'object',
    required: ['data', 'meta'],
    properties: { data: { type: 'array', items: item }, meta: pageMetaSchema },
  };
}

export function dataResponseSchema(item: SchemaObject): SchemaObject {
  return { type: 'object', required: ['data'], properties: { data: item } };
}

/** `?dry_run=true` on mutating operations: plan, change nothing, answer 200 with the plan. */
export interface DryRunQuery {
  dry_run: boolean;
}
export const dryRunQuerySchema: JSONSchemaType<DryRunQuery> = {
  type: 'object',
  properties: {
    dry_run: {
      type: 'boolean',
      default: false,
      description: 'Validate, read the live state and return the plan without changing anything.',
    },
  },
  required: [],
  additionalProperties: false,
};

const planStepSchema: SchemaObject = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    checks: { type: 'array', items: { type: 'string' } },
  },
  required: ['name', 'description', 'checks'],
};

/** The plan a dry run answers with (workflows/contracts.ts OperationPlan). */
export const planResponseSchema: SchemaObject = dataResponseSchema({
  type: 'object',
  description:
    'What the operation would do: ordered steps, host batches, the gates, and what would be refused and why.',
  properties: {
    type: { type: 'string' },
    would_run: { type: 'boolean' },
    refusals: {
      type: 'array',
      items: {
        type: 'object',
        properties: { code: { type: 'string' }, message: { type: 'string' } },
        required: ['code', 'message'],
      },
    },
    steps: { type: 'array', items: planStepSchema },
    batches: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
    facts: { type: 'object' },
  },
  required: ['type', 'would_run', 'refusals', 'steps', 'facts'],
});
