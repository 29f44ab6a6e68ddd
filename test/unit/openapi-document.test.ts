import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { createRouteTable } from '../../api/app';
import type { ApiDeps } from '../../api/context';
import type { RouteSpec } from '../../api/routes/route-table';
import { NAMED_SCHEMAS, buildOpenApiDocument } from '../../api/schemas/openapi';
import { bodyValidator, parse } from '../../api/schemas/validation';
import { apiKeyView } from '../../api/routes/api-keys.routes';
import { eventView } from '../../api/routes/events.routes';
import { webhookView } from '../../api/routes/webhooks.routes';
import { clusterView } from '../../api/services/clusters.service';
import { nodeView } from '../../api/services/nodes.service';
import { osdView } from '../../api/services/osds.service';
import { poolView } from '../../api/services/pools.service';
import { ConfigError, publicUrlFrom } from '../../lib/config';

/**
 * The OpenAPI document built from the real route table (issue 12 item 1): a document a client
 * generator can use as is. Building the table opens nothing, so inert dependencies do; no route runs.
 */
function realSpecs(): RouteSpec[] {
  const deps = {
    config: { trustProxy: false, anonRateLimitPerMinute: 0, publicUrl: 'http://127.0.0.1:8080' },
    logger: { child: () => deps.logger, info() {}, warn() {}, error() {}, debug() {} },
  } as unknown as ApiDeps;
  return createRouteTable(deps).specs;
}

const doc = buildOpenApiDocument(realSpecs(), { version: '1', serverUrl: 'https://api.example.com' }) as any;
const operations: [string, any][] = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(
  ([path, methods]) => Object.entries(methods).map(([m, op]): [string, any] => [`${m.toUpperCase()} ${path}`, op]),
);

function resolve(ref: string): unknown {
  expect(ref.startsWith('#/')).toBe(true);
  let at: any = doc;
  for (const part of ref.slice(2).split('/')) {
    at = at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return at;
}

/** A response, following a `$ref` into components.responses. */
function response(r: any): any {
  return typeof r?.$ref === 'string' ? resolve(r.$ref) : r;
}

function walk(node: unknown, visit: (o: Record<string, unknown>, path: string) => void, path = '#'): void {
  if (Array.isArray(node)) node.forEach((x, i) => walk(x, visit, `${path}/${i}`));
  else if (node && typeof node === 'object') {
    visit(node as Record<string, unknown>, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

const STANDARD_FORMATS = new Set([
  'date-time',
  'date',
  'time',
  'duration',
  'email',
  'idn-email',
  'hostname',
  'idn-hostname',
  'ipv4',
  'ipv6',
  'uri',
  'uri-reference',
  'iri',
  'iri-reference',
  'uuid',
  'uri-template',
  'json-pointer',
  'relative-json-pointer',
  'regex',
  'int32',
  'int64',
  'float',
  'double',
  'password',
  'byte',
  'binary',
]);

describe('the OpenAPI document of the real route table', () => {
  it('covers every route (sanity: the capture found the table)', () => {
    expect(operations.length).toBeGreaterThanOrEqual(40);
    expect(doc.paths['/v1/nodes'].post.operationId).toBe('registerNode');
  });

  it('every $ref resolves (schema components titled with their name)', () => {
    const broken: string[] = [];
    walk(doc, (o, path) => {
      if (typeof o.$ref !== 'string') return;
      const target = resolve(o.$ref) as { title?: string } | undefined;
      if (target === undefined) broken.push(`${path}: ${o.$ref}`);
      // A schema component carries its name as title, so a generator names the type after it.
      else if (o.$ref.startsWith('#/components/schemas/') && target.title !== o.$ref.split('/').pop())
        broken.push(`${path}: ${o.$ref} (no title)`);
    });
    expect(broken).toEqual([]);
  });

  it('every error response of every operation is application/json referencing Error', () => {
    const missing: string[] = [];
    for (const [name, op] of operations)
      for (const [status, r] of Object.entries(op.responses as Record<string, any>))
        if (
          Number(status) >= 400 &&
          response(r).content?.['application/json']?.schema?.$ref !== '#/components/schemas/Error'
        )
          missing.push(`${name} ${status}`);
    expect(missing).toEqual([]);
  });

  it('lists the statuses the middleware chain can answer: 413/415 on bodies, idempotency 409 on POST, 503 on writes', () => {
    const lacking: string[] = [];
    for (const [name, op] of operations) {
      if (op.security.length === 0) continue;
      const method = name.split(' ')[0];
      const want = ['400', '401', '403', '404', '429', '500'];
      if (method !== 'GET') want.push('409', '503');
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') want.push('413', '415');
      for (const s of want) if (!op.responses[s]) lacking.push(`${name} ${s}`);
    }
    expect(lacking).toEqual([]);
    expect(response(doc.paths['/v1/api_keys'].post.responses['409']).description).toMatch(/idempotency_key_reused/);
    // Without a key: limited by address (NF_ANON_RATE_LIMIT), except the probes.
    expect(Object.keys(doc.paths['/v1/openapi.json'].get.responses)).toContain('429');
    expect(Object.keys(doc.paths['/healthz'].get.responses)).not.toContain('429');
    expect(Object.keys(doc.paths['/readyz'].get.responses)).toContain('503');
  });

  it('every 2xx JSON response is a $ref into components.schemas', () => {
    const inline: string[] = [];
    for (const [name, op] of operations)
      for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
        const schema = r.content?.['application/json']?.schema;
        if (Number(status) < 300 && schema && !String(schema.$ref ?? '').startsWith('#/components/schemas/'))
          inline.push(`${name} ${status}`);
      }
    expect(inline).toEqual([]);
  });

  it('names a component for every resource and its list envelope, and responses use them', () => {
    const names = Object.keys(doc.components.schemas);
    for (const n of [
      'Error',
      'PageMeta',
      'Node',
      'NodeList',
      'Cluster',
      'ClusterList',
      'ClusterDetail',
      'ClusterHealth',
      'Operation',
      'OperationList',
      'Osd',
      'OsdList',
      'Pool',
      'PoolList',
      'Event',
      'EventList',
      'Webhook',
      'WebhookList',
      'WebhookDelivery',
      'WebhookDeliveryList',
      'ApiKey',
      'ApiKeyList',
      'OperationPlanResponse',
    ])
      expect(names).toContain(n);
    for (const [n] of NAMED_SCHEMAS) expect(doc.components.schemas[n].title).toBe(n);
    expect(doc.paths['/v1/nodes'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/NodeList',
    });
    expect(doc.components.schemas.NodeList.properties.data.items).toEqual({ $ref: '#/components/schemas/Node' });
    expect(doc.components.schemas.Node.properties.drives.items).toEqual({ $ref: '#/components/schemas/Drive' });
  });

  it('uses standard formats only (ip addresses are anyOf ipv4/ipv6)', () => {
    const odd: string[] = [];
    walk(doc, (o, path) => {
      if (typeof o.format === 'string' && !STANDARD_FORMATS.has(o.format)) odd.push(`${path}: ${o.format}`);
    });
    expect(odd).toEqual([]);
    const ip = doc.paths['/v1/nodes'].post.requestBody.content['application/json'].schema.properties.ip_address;
    expect(ip.anyOf).toEqual([{ format: 'ipv4' }, { format: 'ipv6' }]);
  });

  it('query parameters are never typed null nor list null in an enum', () => {
    const nullish: string[] = [];
    for (const [name, op] of operations)
      for (const p of op.parameters as any[]) {
        if (p.in !== 'query') continue;
        const s = p.schema;
        if ((Array.isArray(s.type) && s.type.includes('null')) || (Array.isArray(s.enum) && s.enum.includes(null)))
          nullish.push(`${name} ?${p.name}`);
      }
    expect(nullish).toEqual([]);
    const status = doc.paths['/v1/nodes'].get.parameters.find((p: any) => p.name === 'status');
    expect(status.schema.type).toBe('string');
  });

  it('declares X-Confirm-Delete on the destructive DELETEs, required where the server requires it', () => {
    const header = (op: any) => op.parameters.find((p: any) => p.in === 'header' && p.name === 'X-Confirm-Delete');
    expect(header(doc.paths['/v1/clusters/{id}/pools/{name}'].delete)).toMatchObject({ required: true });
    // Deleting a cluster takes it too, except with dry_run=true, which changes nothing.
    expect(header(doc.paths['/v1/clusters/{id}'].delete)).toMatchObject({ required: false });
    expect(new RegExp(header(doc.paths['/v1/clusters/{id}'].delete).schema.pattern).test('TRUE')).toBe(true);
  });

  it('declares request and response headers as the server reads and sends them', () => {
    const reqId = resolve('#/components/parameters/X-Request-ID') as any;
    // The server replaces a bad id rather than refusing it: the document must accept any string.
    expect(reqId.schema).toEqual({ type: 'string' });
    const idem = resolve('#/components/parameters/Idempotency-Key') as any;
    expect(new RegExp(idem.schema.pattern).test('has space')).toBe(false);
    expect(new RegExp(idem.schema.pattern).test('k-1')).toBe(true);
    const create = doc.paths['/v1/clusters'].post;
    expect(create.parameters).toContainEqual({ $ref: '#/components/parameters/Idempotency-Key' });
    expect(Object.keys(create.responses['202'].headers)).toEqual(
      expect.arrayContaining(['X-Request-ID', 'X-RateLimit-Limit', 'Idempotent-Replayed']),
    );
    expect(Object.keys(response(create.responses['429']).headers)).toContain('Retry-After');
    expect(Object.keys(response(create.responses['503']).headers)).toContain('Retry-After');
    for (const [name, op] of operations)
      for (const [status, r] of Object.entries(op.responses as Record<string, any>))
        expect(response(r).headers?.['X-Request-ID'], `${name} ${status}`).toBeDefined();
    // Every answer after the limiters carries X-RateLimit-* (the key's or the address's), 401s and
    // unauthenticated routes included; only the probes, which are never limited, do not.
    const missing: string[] = [];
    for (const [name, op] of operations)
      for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
        const probe = name.endsWith(' /healthz') || name.endsWith(' /readyz');
        const declared = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'].every(
          (h) => response(r).headers?.[h] !== undefined,
        );
        if (declared === probe) missing.push(`${name} ${status}`);
      }
    expect(missing).toEqual([]);
  });

  it('servers come from configuration', () => {
    expect(doc.servers).toEqual([{ url: 'https://api.example.com' }]);
    expect(publicUrlFrom(undefined, '127.0.0.1', 8080)).toBe('http://127.0.0.1:8080');
    expect(publicUrlFrom(undefined, '::1', 8080)).toBe('http://[::1]:8080');
    expect(publicUrlFrom('https://api.example.com/nf/', '127.0.0.1', 8080)).toBe('https://api.example.com/nf');
    expect(() => publicUrlFrom('ftp://x', '127.0.0.1', 8080)).toThrow(ConfigError);
    expect(() => publicUrlFrom('not a url', '127.0.0.1', 8080)).toThrow(ConfigError);
  });
});

describe('required lists of the named resources', () => {
  const now = new Date('2026-12-05T00:00:00Z');
  // Rows with only their dates set: a view copies every field, so its keys do not depend on values.
  const row = <T>(extra: Record<string, unknown> = {}) =>
    ({ created_at: now, updated_at: now, seq: '1', drives: [], ...extra }) as unknown as T;
  const views: [string, Record<string, unknown>][] = [
    ['Node', nodeView(row(), null) as unknown as Record<string, unknown>],
    ['Cluster', clusterView(row(), 3, null) as unknown as Record<string, unknown>],
    ['Pool', poolView(row()) as unknown as Record<string, unknown>],
    ['Osd', osdView(row({ capacity_gb: 1000, crush_weight: 0.9 }), null) as unknown as Record<string, unknown>],
    ['Webhook', webhookView(row())],
    ['Event', eventView(row())],
    ['ApiKey', apiKeyView(row()) as unknown as Record<string, unknown>],
  ];

  it.each(views)('%s: every field the server always answers is required, and none beyond', (name, view) => {
    const schema = doc.components.schemas[name];
    expect([...schema.required].sort()).toEqual(Object.keys(view).sort());
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(view).sort());
  });

  it('Operation and ClusterDetail require every property they declare', () => {
    for (const name of ['Operation', 'ClusterDetail']) {
      const schema = doc.components.schemas[name];
      expect([...schema.required].sort()).toEqual(Object.keys(schema.properties).sort());
    }
  });
});

describe('the components are valid JSON Schema 2020-12', () => {
  it('every component schema compiles (strict), with its $refs resolved against the document', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    // OpenAPI's own keywords (the wrapper's `components`), not JSON Schema ones.
    ajv.addVocabulary(['example', 'components']);
    ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
    for (const name of Object.keys(doc.components.schemas)) {
      expect(() => ajv.compile({ $ref: `doc#/components/schemas/${name}` }), name).not.toThrow();
    }
  });
});

describe('examples', () => {
  it('every example of a component is valid against that component (so none drifts from the schema)', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    ajv.addVocabulary(['example', 'components']);
    ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
    const invalid: string[] = [];
    let checked = 0;
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, any>)) {
      const validate = ajv.compile({ $ref: `doc#/components/schemas/${name}` });
      for (const example of schema.examples ?? []) {
        checked++;
        if (!validate(example)) invalid.push(`${name}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    expect(invalid).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(30);
  });

  it('every /v1 operation shows an example of its success and of each error', () => {
    const missing: string[] = [];
    for (const [name, op] of operations) {
      if (!name.includes(' /v1/') || name.includes('/sandbox/') || name.endsWith('/openapi.json')) continue;
      for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
        const media = response(r).content?.['application/json'];
        if (media && media.example === undefined) missing.push(`${name} ${status}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('request examples', () => {
  it('every operation with a body shows an example that its own validator accepts', () => {
    const problems: string[] = [];
    for (const spec of realSpecs()) {
      if (!spec.body) continue;
      const media = doc.paths[spec.path][spec.method].requestBody.content['application/json'];
      if (media.example === undefined) {
        problems.push(`${spec.operationId}: no example`);
        continue;
      }
      const validate = bodyValidator(spec.body as never);
      try {
        parse(validate, structuredClone(media.example), 'body');
      } catch (err) {
        problems.push(`${spec.operationId}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
