import type { RouteSpec } from '../routes/route-table';
import { errorResponseSchema, type SchemaObject } from './common.schemas';

/**
 * Ajv's `nullable: true` (OpenAPI 3.0 style, required by ajv's typed schemas) becomes a type array
 * in OpenAPI 3.1 (plain JSON Schema 2020-12); `null` joins an enum. Everything else passes through.
 */
export function toOpenApiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toOpenApiSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  const src = schema as Record<string, unknown>;
  for (const [k, v] of Object.entries(src)) {
    if (k === 'nullable') continue;
    out[k] = k === 'properties' || k === 'patternProperties' ? mapValues(v, toOpenApiSchema) : toOpenApiSchema(v);
  }
  if (src.nullable === true) {
    if (typeof src.type === 'string') out.type = [src.type, 'null'];
    if (Array.isArray(src.enum)) out.enum = [...(src.enum as unknown[]), null];
  }
  return out;
}

function mapValues(v: unknown, f: (x: unknown) => unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, f(x)]));
}

const errorRef = { $ref: '#/components/schemas/Error' };
const rateLimitHeaders = {
  'X-RateLimit-Limit': { $ref: '#/components/headers/X-RateLimit-Limit' },
  'X-RateLimit-Remaining': { $ref: '#/components/headers/X-RateLimit-Remaining' },
  'X-RateLimit-Reset': { $ref: '#/components/headers/X-RateLimit-Reset' },
};

const STANDARD_ERRORS: Record<number, string> = {
  400: 'Invalid parameters (`validation_error` naming the `field`, `invalid_json`).',
  401: 'Missing, invalid or revoked API key (`unauthorized`).',
  403: 'The key may not do this (`forbidden`; read-only keys may only GET).',
  404: 'Not found, or not visible to this key (another account or environment).',
  429: 'Rate limit exceeded (`rate_limited`); see Retry-After.',
  500: 'Internal error (`internal_error`); never carries internals.',
};

export function buildOpenApiDocument(specs: readonly RouteSpec[], info: { version: string }): SchemaObject {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const parameters: unknown[] = [];
    for (const p of spec.pathParams ?? []) {
      parameters.push({
        name: p.name,
        in: 'path',
        required: true,
        description: p.description,
        schema: { type: 'string', pattern: p.pattern },
      });
    }
    const query = spec.query as { properties?: Record<string, SchemaObject>; required?: string[] } | undefined;
    for (const [name, schema] of Object.entries(query?.properties ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: 'query',
        required: query?.required?.includes(name) ?? false,
        ...(typeof description === 'string' ? { description } : {}),
        schema: toOpenApiSchema(rest),
      });
    }
    if (spec.auth && spec.method === 'post') {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Replays the first successful response of the same request for 24 hours; another request under the same key is 409.',
        schema: { type: 'string', minLength: 1, maxLength: 255 },
      });
    }
    parameters.push({ $ref: '#/components/parameters/X-Request-ID' });

    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(spec.responses)) {
      responses[status] = {
        description: r.description,
        ...(spec.auth ? { headers: rateLimitHeaders } : {}),
        ...(r.schema
          ? { content: { [r.contentType ?? 'application/json']: { schema: toOpenApiSchema(r.schema) } } }
          : {}),
      };
    }
    const errors = spec.auth ? [400, 401, 403, 404, 429, 500] : [500];
    for (const status of errors) {
      if (responses[status]) continue;
      responses[status] = {
        description: STANDARD_ERRORS[status],
        ...(spec.auth && status !== 401 ? { headers: rateLimitHeaders } : {}),
        content: { 'application/json': { schema: errorRef } },
      };
    }

    (paths[spec.path] ??= {})[spec.method] = {
      operationId: spec.operationId,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: [spec.tag],
      security: spec.auth ? [{ bearerAuth: [] }] : [],
      parameters,
      ...(spec.body
        ? {
            requestBody: {
              required: spec.bodyRequired ?? true,
              content: { 'application/json': { schema: toOpenApiSchema(spec.body) } },
            },
          }
        : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'NodeFoundry API',
      version: info.version,
      description:
        'Turns registered bare-metal servers into Ceph clusters. Mutating requests start an operation and answer at once.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key: nf_sk_live_… (live), nf_sk_test_… (sandbox) or nf_sk_ro_… (live, GET only).',
        },
      },
      schemas: { Error: errorResponseSchema },
      parameters: {
        'X-Request-ID': {
          name: 'X-Request-ID',
          in: 'header',
          required: false,
          description:
            'Echoed back and recorded on logs and operations; 1–128 of [A-Za-z0-9._:-], otherwise a req_… id is generated.',
          schema: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9._:-]{1,128}$' },
        },
      },
      headers: {
        'X-RateLimit-Limit': {
          description: 'Requests allowed per minute (`unlimited` on the Enterprise plan).',
          schema: { type: 'string' },
        },
        'X-RateLimit-Remaining': {
          description: 'Requests left in the current window (`unlimited` on Enterprise).',
          schema: { type: 'string' },
        },
        'X-RateLimit-Reset': {
          description: 'Unix time (seconds) when the current window ends.',
          schema: { type: 'integer' },
        },
      },
    },
  };
}
