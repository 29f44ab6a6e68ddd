import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { registerNodeBodySchema } from '../../api/schemas/nodes.schemas';
import { toOpenApiSchema, withRequestTextRule } from '../../api/schemas/openapi';
import { createLogger } from '../../lib/logger';
import { connectTemporalClient } from '../../lib/temporal';
import { startTestApi, type TestApi } from '../helpers/api';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => api?.close());

describe('probes', () => {
  it('GET /healthz answers without a key', async () => {
    const r = await api.request('GET', '/healthz', { key: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz is 200 when PostgreSQL and Temporal answer', async () => {
    const r = await api.request('GET', '/readyz', { key: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok', checks: { database: 'ok', temporal: 'ok' } });
  });

  it('GET /readyz is 503 service_unavailable naming the dependency when Temporal is unreachable', async () => {
    const client = await connectTemporalClient(
      { ...api.config, temporal: { ...api.config.temporal, address: '127.0.0.1:1' } },
      { lazy: true },
    );
    const app = createApp({ db: api.db, temporal: client, config: api.config, logger: createLogger('silent') });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body.error).toMatchObject({
        code: 'service_unavailable',
        checks: { database: 'ok', temporal: 'unavailable' },
      });
      expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
    } finally {
      await new Promise((r) => server.close(r));
      await client.connection.close();
    }
  });
});

describe('GET /v1/openapi.json', () => {
  it('documents every route with the schemas the validator uses, bearer security and the error shape', async () => {
    const r = await api.request('GET', '/v1/openapi.json', { key: null });
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) =>
      Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`),
    );
    expect(ops.sort()).toEqual(
      [
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /v1/openapi.json',
        'POST /v1/nodes',
        'GET /v1/nodes',
        'GET /v1/nodes/{id}',
        'PATCH /v1/nodes/{id}',
        'DELETE /v1/nodes/{id}',
        'POST /v1/nodes/{id}/reboot',
        'GET /v1/operations',
        'GET /v1/operations/{id}',
        'POST /v1/operations/{id}/cancel',
        'GET /v1/api_keys',
        'POST /v1/api_keys',
        'DELETE /v1/api_keys/{id}',
        'GET /v1/sandbox/machines/{node_id}',
        'PUT /v1/sandbox/machines/{node_id}/faults',
        'GET /v1/clusters/{id}/osds',
        'POST /v1/clusters/{id}/osds/{osd_id}/reweight',
        'POST /v1/clusters/{id}/upgrade',
        'POST /v1/operations/{id}/pause',
        'POST /v1/operations/{id}/resume',
        'PUT /v1/sandbox/clusters/{cluster_id}/faults',
        'GET /v1/clusters',
        'POST /v1/clusters',
        'GET /v1/clusters/{id}',
        'GET /v1/clusters/{id}/health',
        'DELETE /v1/clusters/{id}',
        'POST /v1/clusters/import',
        'POST /v1/sandbox/ceph-clusters',
        'GET /v1/clusters/{id}/pools',
        'POST /v1/clusters/{id}/pools',
        'DELETE /v1/clusters/{id}/pools/{name}',
        'GET /v1/events',
        'POST /v1/webhooks',
        'GET /v1/webhooks',
        'DELETE /v1/webhooks/{id}',
        'GET /v1/webhooks/{id}/deliveries',
        'POST /v1/webhooks/{id}/test',
        'POST /v1/clusters/{id}/nodes',
        'DELETE /v1/clusters/{id}/nodes/{node_id}',
        'POST /v1/nodes/{id}/maintenance',
        'DELETE /v1/nodes/{id}/maintenance',
        'POST /v1/clusters/{id}/osds/{osd_id}/replace',
      ].sort(),
    );
    const register = doc.paths['/v1/nodes'].post;
    // The validator's schema, with the control-character rule the server applies to every string.
    expect(register.requestBody.content['application/json'].schema).toEqual(
      JSON.parse(JSON.stringify(withRequestTextRule(toOpenApiSchema(registerNodeBodySchema)))),
    );
    // 2xx bodies are named components (issue 12): follow the $ref.
    const ref: string = register.responses['202'].content['application/json'].schema.$ref;
    expect(ref).toBe('#/components/schemas/NodeRegisteredResponse');
    const registered = doc.components.schemas.NodeRegisteredResponse.properties.data;
    expect(registered.properties.operation_id).toBeDefined();
    expect(registered.properties).not.toHaveProperty('ssh_private_key');
    expect(register.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/v1/nodes'].get.parameters.map((p: any) => p.name).filter(Boolean)).toEqual(
      expect.arrayContaining(['page', 'per_page', 'cluster_id', 'status']),
    );
    expect(doc.components.schemas.Error.properties.error.required).toEqual(['code', 'message', 'request_id']);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('GET /metrics', () => {
  it('counts requests by route template and status, with a duration histogram', async () => {
    const count = async () => {
      const text = (await api.request('GET', '/metrics', { key: null })).text;
      const m =
        /^nodefoundry_http_requests_total\{method="GET",route="\/v1\/nodes\/\{id\}",status="404"\} (\d+)$/m.exec(text);
      return { n: m ? Number(m[1]) : 0, text };
    };
    const before = await count();
    await api.request('GET', '/v1/nodes/node_01m8377xgh50eqx4pb9m6y8j07');
    await api.request('GET', '/v1/nodes/node_01m8377xgh50eqx4pb9m6y8j08');
    const after = await count();
    expect(after.n).toBe(before.n + 2);
    expect(after.text).toMatch(/^# TYPE nodefoundry_http_request_duration_seconds histogram$/m);
    expect(after.text).toMatch(
      /^nodefoundry_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/nodes\/\{id\}",le="\+Inf"\} \d+$/m,
    );
    // Raw paths with ids never become labels.
    expect(after.text).not.toContain('node_01m8377xgh50eqx4pb9m6y8j07');
  });
});
