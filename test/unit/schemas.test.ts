import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { RouteTable, type RouteSpec } from '../../api/routes/route-table';
import { createApiKeyBodySchema } from '../../api/schemas/api-keys.schemas';
import { pageQuerySchema } from '../../api/schemas/common.schemas';
import { nodeListQuerySchema, rebootNodeBodySchema, registerNodeBodySchema } from '../../api/schemas/nodes.schemas';
import { buildOpenApiDocument, toOpenApiSchema, withRequestTextRule } from '../../api/schemas/openapi';
import { operationListQuerySchema } from '../../api/schemas/operations.schemas';
import { createPoolBodySchema } from '../../api/schemas/pools.schemas';
import { setFaultsBodySchema } from '../../api/schemas/sandbox.schemas';
import { bodyValidator, canonicalIp, parse, queryValidator } from '../../api/schemas/validation';

const register = bodyValidator(registerNodeBodySchema);
const reboot = bodyValidator(rebootNodeBodySchema);
const nodeList = queryValidator(nodeListQuerySchema);
const opList = queryValidator(operationListQuerySchema);
const faults = bodyValidator(setFaultsBodySchema);

const validNode = () => ({
  hostname: 'storage-01',
  ip_address: '10.0.0.1',
  ipmi_address: '10.0.1.1',
  ipmi_username: 'admin',
  ipmi_password: 'secret',
  ssh_user: 'root',
  ssh_private_key: 'KEY',
});

function rejects(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a validation error');
}

describe('request schemas', () => {
  it('fill defaults, so the validated value has the documented shape', () => {
    const body = parse(register, validNode(), 'body');
    expect(body.ssh_port).toBe(22);
    // ipmi_port's default (623) is the service's, since `bmc` may carry the port instead (issue 13 #5).
    expect(body.ipmi_port).toBeUndefined();
    expect(parse(register, { ...validNode(), bmc: undefined, ipmi_port: 6230 }, 'body').ipmi_port).toBe(6230);
    expect(parse(reboot, {}, 'body')).toEqual({ method: 'graceful', drain_osds: true });
  });

  describe('the BMC: the ipmi_* fields or `bmc: {protocol, …}`, exactly one (issue 13 #5)', () => {
    const { ipmi_address: _a, ipmi_username: _u, ipmi_password: _p, ...noBmc } = validNode();
    const fp = 'B6:02:E2:7E:72:81:8F:45:BA:39:D2:8A:F6:88:B1:EA:8E:17:62:A6:FF:94:A5:7E:86:6B:1A:50:86:3F:57:C7';
    const redfish = {
      protocol: 'redfish',
      address: '10.0.1.1',
      username: 'administrator-of-the-bmc',
      password: 'p'.repeat(40),
    };

    it('accepts a Redfish BMC (longer credentials, a fingerprint to pin) and an IPMI one, protocol ipmi by default', () => {
      expect(parse(register, { ...noBmc, bmc: { ...redfish, tls_fingerprint: fp, port: 8443 } }, 'body').bmc).toEqual({
        ...redfish,
        tls_fingerprint: fp,
        port: 8443,
      });
      expect(
        parse(register, { ...noBmc, bmc: { address: '10.0.1.1', username: 'admin', password: 'x' } }, 'body').bmc,
      ).toMatchObject({ protocol: 'ipmi' });
    });

    it.each([
      ['neither shape', noBmc],
      ['both shapes', { ...validNode(), bmc: redfish }],
      ['bmc with a stray ipmi_port', { ...noBmc, ipmi_port: 623, bmc: redfish }],
      [
        'an IPMI bmc with a certificate fingerprint',
        { ...noBmc, bmc: { ...redfish, protocol: 'ipmi', username: 'a', password: 'b', tls_fingerprint: fp } },
      ],
      [
        'an IPMI bmc with a password longer than IPMI allows',
        { ...noBmc, bmc: { ...redfish, protocol: 'ipmi', username: 'a', password: 'x'.repeat(21) } },
      ],
      ['a malformed fingerprint', { ...noBmc, bmc: { ...redfish, tls_fingerprint: 'AB:CD' } }],
      ['an unknown protocol', { ...noBmc, bmc: { ...redfish, protocol: 'amt' } }],
    ])('refuses %s with a 400', (_what, body) => {
      const err = rejects(() => parse(register, JSON.parse(JSON.stringify(body)), 'body'));
      expect([err.status, err.code]).toEqual([400, 'validation_error']);
    });

    it('says which field conflicts when both shapes are given', () => {
      const err = rejects(() => parse(register, { ...validNode(), bmc: redfish }, 'body'));
      expect(err.details.field).toBe('bmc');
      expect(err.message).toMatch(/either `bmc` or the ipmi_\* fields/);
    });
  });

  it.each([
    ['a missing required field', { ...validNode(), ssh_user: undefined }, 'ssh_user', /ssh_user is required/],
    ['an unknown field', { ...validNode(), password: 'x' }, 'password', /Unknown field: password/],
    ['a bad IP address', { ...validNode(), ip_address: '10.0.0.256' }, 'ip_address', /IPv4 or IPv6/],
    ['an IPv6 zone id', { ...validNode(), ipmi_address: 'fe80::1%eth0' }, 'ipmi_address', /IPv4 or IPv6/],
    ['a hostname with a space', { ...validNode(), hostname: 'storage 01' }, 'hostname', /hostname/],
    ['a port of the wrong type', { ...validNode(), ssh_port: '22' }, 'ssh_port', /integer/],
    ['a port out of range', { ...validNode(), ipmi_port: 70000 }, 'ipmi_port', /65535/],
    [
      'an IPMI password longer than IPMI allows',
      { ...validNode(), ipmi_password: 'x'.repeat(21) },
      'ipmi_password',
      /20/,
    ],
    ['an unbounded private key', { ...validNode(), ssh_private_key: 'x'.repeat(16385) }, 'ssh_private_key', /16384/],
  ])('reject %s with a 400 naming the field', (_what, body, field, message) => {
    const err = rejects(() => parse(register, JSON.parse(JSON.stringify(body)), 'body'));
    expect(err.status).toBe(400);
    expect(err.code).toBe('validation_error');
    expect(err.details.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('reject a bad enum value, listing the allowed ones', () => {
    const err = rejects(() => parse(reboot, { method: 'reset' }, 'body'));
    expect(err.details.field).toBe('method');
    expect(err.message).toBe('method must be one of: graceful, hard.');
  });

  it('reject a body that is not an object without naming a field', () => {
    const err = rejects(() => parse(register, [1, 2], 'body'));
    expect(err.message).toBe('The request body must be a JSON object.');
    expect(err.details.field).toBeUndefined();
  });

  it('name nested fields with a dotted path', () => {
    const err = rejects(() => parse(faults, { faults: { no_boot: true, melt: true } }, 'body'));
    expect(err.details.field).toBe('faults.melt');
    expect(parse(faults, { faults: { no_boot: true } }, 'body').faults).toMatchObject({
      no_boot: true,
      bmc_unreachable: false,
    });
  });

  it('accept IPv6 and give each address one spelling', () => {
    expect(parse(register, { ...validNode(), ip_address: '2001:DB8:0::1' }, 'body').ip_address).toBe('2001:DB8:0::1');
    expect(canonicalIp('2001:DB8:0::1')).toBe('2001:db8::1');
    expect(canonicalIp('10.1.2.3')).toBe('10.1.2.3');
  });

  it('coerce query strings, bound pagination and reject unknown parameters', () => {
    expect(parse(nodeList, { page: '2', per_page: '50', status: 'hold' }, 'query')).toEqual({
      page: 2,
      per_page: 50,
      status: 'hold',
    });
    expect(parse(queryValidator(pageQuerySchema), {}, 'query')).toEqual({ page: 1, per_page: 25 });
    expect(rejects(() => parse(nodeList, { per_page: '101' }, 'query')).details.field).toBe('per_page');
    expect(rejects(() => parse(nodeList, { page: '0' }, 'query')).details.field).toBe('page');
    const unknown = rejects(() => parse(nodeList, { sort: 'name' }, 'query'));
    expect(unknown.details.field).toBe('sort');
    expect(unknown.message).toBe('Unknown query parameter: sort.');
    expect(rejects(() => parse(nodeList, { cluster_id: 'node_01' }, 'query')).details.field).toBe('cluster_id');
    expect(rejects(() => parse(opList, { status: ['pending', 'failed'] }, 'query')).details.field).toBe('status');
    expect(rejects(() => parse(opList, { type: 'cluster.explode' }, 'query')).details.field).toBe('type');
  });

  it('bound API key names and kinds', () => {
    const keys = bodyValidator(createApiKeyBodySchema);
    expect(rejects(() => parse(keys, { kind: 'admin' }, 'body')).details.field).toBe('kind');
    expect(rejects(() => parse(keys, { kind: 'test', name: 'x'.repeat(101) }, 'body')).details.field).toBe('name');
    expect(rejects(() => parse(keys, { kind: 'test', name: 'a\nb' }, 'body')).details.field).toBe('name');
  });
});

describe('OpenAPI generation', () => {
  it('turns ajv nullable into OpenAPI 3.1 type arrays, enums included', () => {
    expect(
      toOpenApiSchema({ type: 'object', properties: { a: { type: 'string', nullable: true, enum: ['x'] } } }),
    ).toEqual({
      type: 'object',
      properties: { a: { type: ['string', 'null'], enum: ['x', null] } },
    });
  });

  it('documents each route from its spec: the body schema is the validated one, queries become parameters', () => {
    const table = new RouteTable([]);
    const spec: RouteSpec = {
      method: 'post',
      path: '/v1/things/{id}',
      operationId: 'makeThing',
      summary: 'Make',
      tag: 'T',
      auth: true,
      pathParams: [{ name: 'id', pattern: '^x$', description: 'id' }],
      query: nodeListQuerySchema,
      body: registerNodeBodySchema,
      responses: { 202: { description: 'ok', schema: { type: 'object' } } },
    };
    table.add(spec, (ctx) => {
      ctx.body = {};
    });
    const doc = buildOpenApiDocument(table.specs, { version: '1' }) as any;
    expect(doc.openapi).toBe('3.1.0');
    const op = doc.paths['/v1/things/{id}'].post;
    expect(op.security).toEqual([{ bearerAuth: [] }]);
    // The validated schema, with the control-character rule the server applies to every string.
    expect(op.requestBody.content['application/json'].schema).toEqual(
      withRequestTextRule(toOpenApiSchema(registerNodeBodySchema)),
    );
    expect(op.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    const names = op.parameters.map((p: any) => p.name ?? p.$ref);
    expect(names).toEqual(
      expect.arrayContaining([
        'id',
        'page',
        'per_page',
        'cluster_id',
        'status',
        '#/components/parameters/Idempotency-Key',
      ]),
    );
    // A query string cannot carry null: ajv's nullable (an absent filter) is not documented as null.
    expect(op.parameters.find((p: any) => p.name === 'status').schema.type).toBe('string');
    expect(op.parameters.find((p: any) => p.name === 'status').schema.enum).not.toContain(null);
    // Standard errors of authenticated routes are shared components (issue 12).
    expect(op.responses['429']).toEqual({ $ref: '#/components/responses/TooManyRequests' });
    expect(doc.components.responses.TooManyRequests.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    expect(op.responses['202'].headers['X-RateLimit-Remaining']).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth.scheme).toBe('bearer');
  });
});

describe('the pool body schema says what the server does (issue 12 #4)', () => {
  const pool = bodyValidator(createPoolBodySchema);
  const doc = toOpenApiSchema(createPoolBodySchema) as any;

  it('replication_factor: minimum 2 (the server refuses 1), default 3 for replicated pools, in the schema itself', () => {
    expect(doc.properties.replication_factor.minimum).toBe(2);
    expect(doc.if.properties.type.const).toBe('replicated');
    expect(doc.then.properties.replication_factor.default).toBe(3);
    expect(parse(pool, { name: 'p', type: 'replicated' }, 'body').replication_factor).toBe(3);
    expect(parse(pool, { name: 'p', type: 'replicated', replication_factor: 2 }, 'body').replication_factor).toBe(2);
    expect(
      rejects(() => parse(pool, { name: 'p', type: 'replicated', replication_factor: 1 }, 'body')).details,
    ).toEqual({
      field: 'replication_factor',
    });
  });

  it('an erasure pool gets no default size and refuses a replication_factor by schema', () => {
    expect(parse(pool, { name: 'p', type: 'erasure' }, 'body')).not.toHaveProperty('replication_factor');
    expect(parse(pool, { name: 'p', type: 'erasure', replication_factor: null }, 'body').replication_factor).toBeNull();
    const err = rejects(() => parse(pool, { name: 'p', type: 'erasure', replication_factor: 3 }, 'body'));
    expect([err.code, err.details.field]).toEqual(['validation_error', 'replication_factor']);
    expect(doc.else.properties.replication_factor.type).toBe('null');
  });
});
