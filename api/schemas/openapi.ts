import { isDeepStrictEqual } from 'node:util';
import { PROBES } from '../middleware/rate-limit.middleware';
import type { RouteSpec } from '../routes/route-table';
import { ERROR_STATUS } from '../errors';
import { apiKeyViewSchema, createdApiKeyResponseSchema } from './api-keys.schemas';
import { clusterHealthSchema } from './cluster-health.schemas';
import { clusterAcceptedResponseSchema, clusterDetailSchema, clusterViewSchema } from './clusters.schemas';
import { errorResponseSchema, pageMetaSchema, planResponseSchema, type SchemaObject } from './common.schemas';
import { eventViewSchema } from './events.schemas';
import { EXAMPLES, REQUEST_EXAMPLES } from './examples';
import {
  driveSchema,
  nodeViewSchema,
  rebootAcceptedResponseSchema,
  maintenanceAcceptedResponseSchema,
  registeredNodeResponseSchema,
} from './nodes.schemas';
import { operationViewSchema } from './operations.schemas';
import { osdViewSchema, replaceAcceptedResponseSchema, reweightAcceptedResponseSchema } from './osds.schemas';
import { expandAcceptedResponseSchema } from './expand.schemas';
import { removeNodeAcceptedResponseSchema } from './remove-node.schemas';
import { poolAcceptedResponseSchema, poolViewSchema } from './pools.schemas';
import {
  sandboxMachineResponseSchema,
  sandboxMachineViewSchema,
  seedCephClusterResponseSchema,
} from './sandbox.schemas';
import { sandboxClusterResponseSchema, upgradeAcceptedResponseSchema } from './upgrades.schemas';
import { createdWebhookResponseSchema, deliveryViewSchema, webhookViewSchema } from './webhooks.schemas';

/**
 * Ajv's `nullable: true` (OpenAPI 3.0 style, required by ajv's typed schemas) becomes a type array
 * in OpenAPI 3.1 (plain JSON Schema 2020-12); `null` joins an enum. Ajv's `format: "ip"` (ajv-formats:
 * IPv4 or IPv6) is not a standard format: it becomes `anyOf` ipv4/ipv6. Everything else passes through.
 */
export function toOpenApiSchema(schema: unknown): unknown {
  return convert(schema, () => undefined);
}

/** toOpenApiSchema, where an object named in `refOf` becomes a `$ref` to its component. */
function convert(schema: unknown, refOf: (o: object) => string | undefined): unknown {
  if (Array.isArray(schema)) return schema.map((x) => convert(x, refOf));
  if (!schema || typeof schema !== 'object') return schema;
  const ref = refOf(schema);
  if (ref) return { $ref: ref };
  const out: Record<string, unknown> = {};
  const src = schema as Record<string, unknown>;
  for (const [k, v] of Object.entries(src)) {
    if (k === 'nullable') continue;
    if (k === 'format' && v === 'ip') {
      out.anyOf = [{ format: 'ipv4' }, { format: 'ipv6' }];
      continue;
    }
    out[k] =
      k === 'properties' || k === 'patternProperties'
        ? mapValues(v, (x) => convert(x, refOf))
        : k === 'enum' || k === 'default' || k === 'examples' || k === 'const'
          ? v
          : convert(v, refOf);
  }
  if (src.nullable === true) {
    if (typeof src.type === 'string') out.type = [src.type, 'null'];
    if (Array.isArray(src.enum)) out.enum = [...(src.enum as unknown[]), null];
  }
  return out;
}

/**
 * The control characters the server refuses in every string of a request (`hasControlCharacter`,
 * checked before the schema): NUL, the other C0 controls but tab, line feed and carriage return, DEL.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$';

/**
 * A request schema (body, query parameter) as documented: every string that has no pattern of its
 * own (nor an enum or const) gets NO_CONTROL_CHARACTERS, so the document refuses what the server's
 * control-character check refuses (a free-text `reason` with U+0015 was schema-valid and a 400).
 * The patterns the schemas declare already exclude control characters (unit-tested).
 */
export function withRequestTextRule(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withRequestTextRule);
  if (!schema || typeof schema !== 'object' || '$ref' in schema) return schema;
  const src = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    out[k] =
      k === 'properties' || k === 'patternProperties'
        ? mapValues(v, withRequestTextRule)
        : k === 'items' || k === 'additionalProperties' || k === 'anyOf' || k === 'oneOf' || k === 'allOf'
          ? withRequestTextRule(v)
          : v;
  }
  const types = Array.isArray(src.type) ? src.type : [src.type];
  if (types.includes('string') && src.pattern === undefined && src.enum === undefined && src.const === undefined) {
    out.pattern = NO_CONTROL_CHARACTERS;
  }
  return out;
}

function mapValues(v: unknown, f: (x: unknown) => unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, f(x)]));
}

/**
 * The resources of the API, named once: wherever one of these very objects appears in a response
 * schema, the document has a `$ref` to `#/components/schemas/<name>` (the objects are the ones the
 * route table declares, so the names cannot drift from what is served).
 */
export const NAMED_SCHEMAS: readonly (readonly [string, SchemaObject])[] = [
  ['Error', errorResponseSchema],
  ['PageMeta', pageMetaSchema],
  ['Node', nodeViewSchema],
  ['Drive', driveSchema],
  ['Cluster', clusterViewSchema],
  ['ClusterDetail', clusterDetailSchema],
  ['ClusterHealth', clusterHealthSchema],
  ['Operation', operationViewSchema],
  ['Osd', osdViewSchema],
  ['Pool', poolViewSchema],
  ['Event', eventViewSchema],
  ['Webhook', webhookViewSchema],
  ['WebhookDelivery', deliveryViewSchema],
  ['ApiKey', apiKeyViewSchema],
  ['SandboxMachine', sandboxMachineViewSchema],
  ['OperationPlanResponse', planResponseSchema],
  ['NodeRegisteredResponse', registeredNodeResponseSchema],
  ['RebootAcceptedResponse', rebootAcceptedResponseSchema],
  ['MaintenanceAcceptedResponse', maintenanceAcceptedResponseSchema],
  ['ClusterAcceptedResponse', clusterAcceptedResponseSchema],
  ['PoolAcceptedResponse', poolAcceptedResponseSchema],
  ['ReweightAcceptedResponse', reweightAcceptedResponseSchema],
  ['ReplaceAcceptedResponse', replaceAcceptedResponseSchema],
  ['RemoveNodeAcceptedResponse', removeNodeAcceptedResponseSchema],
  ['UpgradeAcceptedResponse', upgradeAcceptedResponseSchema],
  ['ApiKeyCreatedResponse', createdApiKeyResponseSchema],
  ['WebhookCreatedResponse', createdWebhookResponseSchema],
  ['SandboxMachineResponse', sandboxMachineResponseSchema],
  ['SandboxClusterResponse', sandboxClusterResponseSchema],
  ['SeedCephClusterResponse', seedCephClusterResponseSchema],
  ['ExpandAcceptedResponse', expandAcceptedResponseSchema],
];

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const errorRef = { $ref: '#/components/schemas/Error' };
const requestIdHeader = { 'X-Request-ID': { $ref: '#/components/headers/X-Request-ID' } };
const rateLimitHeaders = {
  'X-RateLimit-Limit': { $ref: '#/components/headers/X-RateLimit-Limit' },
  'X-RateLimit-Remaining': { $ref: '#/components/headers/X-RateLimit-Remaining' },
  'X-RateLimit-Reset': { $ref: '#/components/headers/X-RateLimit-Reset' },
};
const retryAfterHeader = { 'Retry-After': { $ref: '#/components/headers/Retry-After' } };
const replayedHeader = { 'Idempotent-Replayed': { $ref: '#/components/headers/Idempotent-Replayed' } };

/** What each error status means when a route says nothing more specific. */
const STANDARD_ERRORS: Record<number, string> = {
  400: 'Invalid parameters (`validation_error` naming the `field`, `invalid_json`).',
  401: 'Missing, invalid or revoked API key (`unauthorized`).',
  403: 'The key may not do this (`forbidden`; read-only keys may only GET).',
  404: 'Not found, or not visible to this key (another account or environment).',
  409: '`idempotency_key_reused` (another request under this Idempotency-Key) or `idempotency_in_progress` (the first is still running); `conflict` (a concurrent request collided: retry).',
  413: '`payload_too_large`: the body exceeds the size limit (64 KiB).',
  415: '`unsupported_media_type`: a body that is not `application/json`.',
  429: 'Rate limit exceeded (`rate_limited`); see Retry-After.',
  500: 'Internal error (`internal_error`); never carries internals.',
  503: '`service_unavailable`: a dependency (PostgreSQL, Temporal, the live cluster for a dry run) did not answer; nothing was started. Retry.',
};

const RESPONSE_NAMES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/** An Error answer with the first code of this status (ERROR_STATUS), for the document's examples. */
function errorExample(status: number): unknown {
  const code = Object.keys(ERROR_STATUS).find((c) => ERROR_STATUS[c as keyof typeof ERROR_STATUS] === status);
  return {
    error: {
      code: code ?? 'internal_error',
      message: STANDARD_ERRORS[status] ?? 'See the description.',
      request_id: 'req_01jf3k8m2q7r9s4t6v8w0x2yr3',
    },
  };
}

/** Every status an operation can answer, beyond its own: the middleware chain's (app.ts) and the router's. */
function errorStatuses(spec: RouteSpec): number[] {
  // Unauthenticated routes are limited by client address (NF_ANON_RATE_LIMIT), except the probes.
  if (!spec.auth) return PROBES.has(spec.path) ? [500] : [429, 500];
  const statuses = [400, 401, 403, 404, 429, 500];
  if (spec.method !== 'get') statuses.push(409, 503);
  if (spec.method === 'post' || spec.method === 'put' || spec.method === 'patch') statuses.push(413, 415);
  return statuses.sort((a, b) => a - b);
}

export interface OpenApiOptions {
  version: string;
  /** The `servers` URL (NF_PUBLIC_URL, else the listen address); `/` when not given. */
  serverUrl?: string;
}

export function buildOpenApiDocument(specs: readonly RouteSpec[], info: OpenApiOptions): SchemaObject {
  const byObject = new Map<object, string>(NAMED_SCHEMAS.map(([name, schema]) => [schema, name]));
  const refOf = (o: object) => {
    const name = byObject.get(o);
    return name ? `#/components/schemas/${name}` : undefined;
  };
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of NAMED_SCHEMAS) {
    schemas[name] = {
      title: name,
      ...(convert(schema, (o) => (o === schema ? undefined : refOf(o))) as object),
      ...(name in EXAMPLES ? { examples: [EXAMPLES[name]] } : {}),
    };
  }

  /** A 2xx JSON body as a named component: a named resource, its list envelope, its data envelope, or the operation's own. */
  const responseRef = (schema: SchemaObject, spec: RouteSpec, status: string): { $ref: string } => {
    const known = refOf(schema);
    if (known) return { $ref: known };
    const props = (schema.properties ?? {}) as Record<string, unknown>;
    const data = props.data as Record<string, unknown> | undefined;
    const itemName = data && typeof data.items === 'object' && data.items ? byObject.get(data.items) : undefined;
    const dataName = data ? byObject.get(data) : undefined;
    const list = !!itemName && !!props.meta;
    const single = !list && !!dataName && Object.keys(props).length === 1;
    let name = list ? `${itemName}List` : single ? `${dataName}Response` : `${pascal(spec.operationId)}Response`;
    // An envelope's example is its resource's.
    const example =
      list && itemName && itemName in EXAMPLES
        ? { data: [EXAMPLES[itemName]], meta: EXAMPLES.PageMeta }
        : single && dataName && dataName in EXAMPLES
          ? { data: EXAMPLES[dataName] }
          : undefined;
    const own = EXAMPLES[name];
    const body = {
      title: name,
      ...(convert(schema, refOf) as object),
      ...(example ? { examples: [example] } : own !== undefined ? { examples: [own] } : {}),
    };
    if (name in schemas && !isDeepStrictEqual(schemas[name], body)) {
      name = `${pascal(spec.operationId)}${status}Response`;
      Object.assign(body, { title: name });
    }
    schemas[name] ??= body;
    return { $ref: `#/components/schemas/${name}` };
  };

  const sharedResponses: Record<string, unknown> = {};
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
      // `nullable` lets ajv type an absent filter; a query string cannot carry null, so it is not documented.
      const { description, nullable: _nullable, ...rest } = schema;
      parameters.push({
        name,
        in: 'query',
        required: query?.required?.includes(name) ?? false,
        ...(typeof description === 'string' ? { description } : {}),
        schema: withRequestTextRule(toOpenApiSchema(rest)),
      });
    }
    if (spec.confirmDelete) {
      parameters.push({
        name: 'X-Confirm-Delete',
        in: 'header',
        required: spec.confirmDelete.required,
        description: spec.confirmDelete.required
          ? 'Must be `true`: this destroys data. Without it the answer is 400 `confirmation_required`.'
          : 'Must be `true` unless `dry_run=true`: this destroys data. Without it the answer is 400 `confirmation_required`.',
        schema: { type: 'string', pattern: '^[ \\t]*[Tt][Rr][Uu][Ee][ \\t]*$' },
      });
    }
    if (spec.auth && spec.method === 'post') parameters.push({ $ref: '#/components/parameters/Idempotency-Key' });
    parameters.push({ $ref: '#/components/parameters/X-Request-ID' });

    const responses: Record<string, unknown> = {};
    const headersFor = (status: number) => ({
      ...requestIdHeader,
      // Every answer after the limiters: the key's counter, or the address's (401s, unauthenticated routes).
      ...(PROBES.has(spec.path) ? {} : rateLimitHeaders),
      ...(status === 429 || status === 503 ? retryAfterHeader : {}),
      ...(spec.auth && spec.method === 'post' && status >= 200 && status < 300 ? replayedHeader : {}),
    });
    for (const [status, r] of Object.entries(spec.responses)) {
      const code = Number(status);
      const contentType = r.contentType ?? 'application/json';
      let content: unknown;
      if (code >= 400) content = { 'application/json': { schema: errorRef, example: errorExample(code) } };
      else if (r.schema && contentType === 'application/json') {
        const ref = responseRef(r.schema, spec, status);
        const example = (schemas[ref.$ref.split('/').pop() ?? ''] as { examples?: unknown[] }).examples?.[0];
        content = { [contentType]: { schema: ref, ...(example !== undefined ? { example } : {}) } };
      } else if (r.schema) content = { [contentType]: { schema: toOpenApiSchema(r.schema) } };
      responses[status] = { description: r.description, headers: headersFor(code), ...(content ? { content } : {}) };
    }
    for (const status of errorStatuses(spec)) {
      if (responses[status]) continue;
      const standard = {
        description: STANDARD_ERRORS[status],
        headers: headersFor(status),
        content: { 'application/json': { schema: errorRef, example: errorExample(status) } },
      };
      // An authenticated route's standard error is the same everywhere: one shared component.
      if (spec.auth) {
        const name = RESPONSE_NAMES[status] ?? `Error${status}`;
        sharedResponses[name] ??= standard;
        responses[status] = { $ref: `#/components/responses/${name}` };
      } else responses[status] = standard;
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
              content: {
                'application/json': {
                  schema: withRequestTextRule(toOpenApiSchema(spec.body)),
                  ...(spec.operationId in REQUEST_EXAMPLES ? { example: REQUEST_EXAMPLES[spec.operationId] } : {}),
                },
              },
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
        'Turns registered bare-metal servers into Ceph clusters. Mutating requests start an operation and answer at once. ' +
        'Any path not listed answers 404 `route_not_found`, and a listed path with another method 405 `method_not_allowed` (with `Allow`), both in the Error shape.',
    },
    servers: [{ url: info.serverUrl ?? '/' }],
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
      schemas,
      responses: sharedResponses,
      parameters: {
        'X-Request-ID': {
          name: 'X-Request-ID',
          in: 'header',
          required: false,
          description:
            'Echoed back and recorded on logs and operations when it is 1–128 of [A-Za-z0-9._:-]; any other value is replaced by a generated req_… id (never refused).',
          schema: { type: 'string' },
        },
        'Idempotency-Key': {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Replays the first successful response of the same request for 24 hours (with Idempotent-Replayed: true); another request under the same key is 409 `idempotency_key_reused`, a duplicate while the first runs 409 `idempotency_in_progress`. 1–255 printable ASCII characters, no space.',
          schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
        },
      },
      headers: {
        'X-Request-ID': {
          description: "The request's id: the client's X-Request-ID when acceptable, else a generated req_… id.",
          schema: { type: 'string' },
        },
        'X-RateLimit-Limit': {
          description:
            "Requests allowed per minute to the key's counter (account, key kind), or to the client address when no valid key was given (401, unauthenticated routes); `unlimited` on the Enterprise plan or when the address limiter is off.",
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
        'Retry-After': {
          description: 'Seconds to wait before retrying (sent with 429; a 503 may carry it).',
          schema: { type: 'integer', minimum: 0 },
        },
        'Idempotent-Replayed': {
          description: '`true` when this answer is the replay of an earlier request under the same Idempotency-Key.',
          schema: { type: 'string', enum: ['true'] },
        },
      },
    },
  };
}
