import { describe, expect, it } from 'vitest';
import { createRouteTable } from '../../api/app';
import type { ApiDeps } from '../../api/context';
import { buildOpenApiDocument } from '../../api/schemas/openapi';
import { bodyValidator, hasControlCharacter, parse } from '../../api/schemas/validation';

/**
 * The server refuses control characters in every string of a body, query string or path parameter
 * (docs/api.md#validation) before the schema is looked at. The document must say so, or a client
 * (schemathesis: ST202, `reason: "…\u0015…"` on POST /v1/operations/{id}/pause) sends what the
 * document allows and gets a 400.
 */
const deps = {
  config: { trustProxy: false, anonRateLimitPerMinute: 0, publicUrl: 'http://127.0.0.1:8080' },
  logger: { child: () => deps.logger, info() {}, warn() {}, error() {}, debug() {} },
} as unknown as ApiDeps;
const specs = createRouteTable(deps).specs;
const doc = buildOpenApiDocument(specs, { version: '1', serverUrl: 'https://api.example.com' }) as any;

/** Every string schema (with its dotted path) under `schema`, enums and consts excepted. */
function strings(schema: any, at: string, out: [string, any][] = []): [string, any][] {
  if (!schema || typeof schema !== 'object') return out;
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('string') && schema.enum === undefined && schema.const === undefined) out.push([at, schema]);
  for (const [k, v] of Object.entries(schema.properties ?? {})) strings(v, `${at}.${k}`, out);
  if (schema.items) strings(schema.items, `${at}[]`, out);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
    strings(schema.additionalProperties, `${at}.*`, out);
  for (const k of ['anyOf', 'oneOf', 'allOf'])
    for (const [i, v] of (schema[k] ?? []).entries()) strings(v, `${at}/${k}${i}`, out);
  return out;
}

const requestStrings: [string, any][] = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(
  ([path, methods]) =>
    Object.entries(methods).flatMap(([method, op]) => {
      const where = `${method.toUpperCase()} ${path}`;
      const body = op.requestBody?.content?.['application/json']?.schema;
      const params = (op.parameters ?? []).filter((p: any) => p.in === 'query' || p.in === 'path');
      return [
        ...(body ? strings(body, `${where} body`) : []),
        ...params.flatMap((p: any) => strings(p.schema, `${where} ${p.in} ${p.name}`)),
      ];
    }),
);

describe('control characters in the OpenAPI document', () => {
  it('every string a request may carry is documented with a pattern that refuses what the server refuses', () => {
    expect(requestStrings.length).toBeGreaterThan(30);
    const allowing = requestStrings
      .filter(([, s]) => typeof s.pattern !== 'string' || new RegExp(s.pattern, 'u').test('x\u0015y'))
      .map(([at]) => at);
    expect(allowing).toEqual([]);
    for (const c of ['\u0000', '\u0008', '\u000b', '\u001f', '\u007f']) expect(hasControlCharacter(c)).toBe(true);
  });

  it('the documented pattern keeps what the server takes: tab, line feed, carriage return, any other text', () => {
    const pause = doc.paths['/v1/operations/{id}/pause'].post.requestBody.content['application/json'].schema;
    const reason = new RegExp(pause.properties.reason.pattern, 'u');
    for (const ok of ['Waiting for the change window.', 'tab\there', 'two\nlines\r\n', 'ünïcødé ✓', ''])
      expect(reason.test(ok), JSON.stringify(ok)).toBe(!hasControlCharacter(ok));
    for (const bad of ['\u0000', 'a\u0015b', 'del\u007f']) expect(reason.test(bad)).toBe(false);
    // The server agrees: a multi-line private key passes the body validator's text check.
    const key = doc.paths['/v1/nodes'].post.requestBody.content['application/json'].schema.properties.ssh_private_key;
    expect(new RegExp(key.pattern, 'u').test('-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END')).toBe(true);
    const validate = bodyValidator<{ reason?: string | null }>(
      specs.find((s) => s.operationId === 'pauseOperation')!.body as any,
    );
    expect(parse(validate, { reason: 'tab\there' }, 'body')).toEqual({ reason: 'tab\there' });
  });
});
