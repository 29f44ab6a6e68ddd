import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../lib/ids';
import { nodeBody, startTestApi, type ApiResponse, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

/**
 * Real answers of the real app, checked against the document it serves (issue 12 item 1): the
 * named components, their `required` lists and the Error shape must describe what the server
 * sends, so a generated client neither rejects a real answer nor misses a field.
 */
let t: TestApi;
let doc: any;
let ajv: Ajv2020;

beforeAll(async () => {
  t = await startTestApi();
  doc = (await t.request('GET', '/v1/openapi.json', { key: null })).body;
  ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  ajv.addVocabulary(['example', 'components']);
  ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
});
afterAll(async () => t?.close());

function deref(x: any): any {
  if (typeof x?.$ref !== 'string') return x;
  return (x.$ref as string)
    .slice(2)
    .split('/')
    .reduce((at: any, part: string) => at?.[part], doc);
}

/** Asserts the answer is one the document lists for this operation, with a body its schema accepts. */
function conforms(method: string, template: string, r: ApiResponse): void {
  const op = doc.paths[template]?.[method.toLowerCase()];
  expect(op, `${method} ${template} documented`).toBeDefined();
  const response = deref(op.responses[String(r.status)]);
  expect(response, `${method} ${template} lists ${r.status}`).toBeDefined();
  expect(r.headers.get('x-request-id')).toBeTruthy();
  const media = response.content?.['application/json'];
  if (!media) {
    expect(r.text).toBe('');
    return;
  }
  const validate = ajv.compile(media.schema.$ref ? { $ref: `doc${media.schema.$ref}` } : media.schema);
  const ok = validate(r.body);
  expect(ok ? [] : validate.errors, `${method} ${template} ${r.status}: ${JSON.stringify(r.body)}`).toEqual([]);
}

describe('answers conform to /v1/openapi.json', () => {
  it('nodes, operations, keys, webhooks, events, clusters, health and errors', async () => {
    const privateKey = generateSshKey().privateKey;
    const reg = await t.request('POST', '/v1/nodes', { body: nodeBody(privateKey, { rack: 'r1' }) });
    expect(reg.status).toBe(202);
    conforms('POST', '/v1/nodes', reg);
    const nodeId: string = reg.body.data.id;
    const opId: string = reg.body.data.operation_id;

    conforms('GET', '/v1/nodes', await t.request('GET', '/v1/nodes'));
    conforms('GET', '/v1/nodes/{id}', await t.request('GET', `/v1/nodes/${nodeId}`));
    conforms('GET', '/v1/operations', await t.request('GET', '/v1/operations'));
    conforms('GET', '/v1/operations/{id}', await t.request('GET', `/v1/operations/${opId}`));
    conforms('GET', '/v1/api_keys', await t.request('GET', '/v1/api_keys'));
    conforms('GET', '/v1/events', await t.request('GET', '/v1/events'));

    const hook = await t.request('POST', '/v1/webhooks', {
      body: { url: 'https://203.0.113.10/nf', events: ['operation.completed'] },
    });
    conforms('POST', '/v1/webhooks', hook);
    conforms('GET', '/v1/webhooks', await t.request('GET', '/v1/webhooks'));
    conforms(
      'GET',
      '/v1/webhooks/{id}/deliveries',
      await t.request('GET', `/v1/webhooks/${hook.body.data.id}/deliveries`),
    );

    const clusterId = newId('cluster');
    await t.db
      .insertInto('clusters')
      .values({
        id: clusterId,
        account_id: t.account.accountId,
        environment: 'sandbox',
        name: 'conformance',
        status: 'HEALTH_OK',
        ceph_version: 'reef',
      })
      .execute();
    conforms('GET', '/v1/clusters', await t.request('GET', '/v1/clusters'));
    conforms('GET', '/v1/clusters/{id}', await t.request('GET', `/v1/clusters/${clusterId}`));
    conforms('GET', '/v1/clusters/{id}/health', await t.request('GET', `/v1/clusters/${clusterId}/health`));
    conforms('GET', '/v1/clusters/{id}/pools', await t.request('GET', `/v1/clusters/${clusterId}/pools`));
    conforms('GET', '/v1/clusters/{id}/osds', await t.request('GET', `/v1/clusters/${clusterId}/osds`));

    // Errors: a route's own (404, 400 confirmation), and a bad query.
    conforms('GET', '/v1/nodes/{id}', await t.request('GET', `/v1/nodes/${newId('node')}`));
    conforms('DELETE', '/v1/clusters/{id}', await t.request('DELETE', `/v1/clusters/${clusterId}`));
    conforms('GET', '/v1/nodes', await t.request('GET', '/v1/nodes?status=nope'));
    conforms('GET', '/v1/nodes', await t.request('GET', '/v1/nodes', { key: null }));
  });

  it('an X-Request-ID the server does not echo is still a valid request (the document accepts any string)', async () => {
    const r = await t.request('GET', '/v1/nodes', { headers: { 'X-Request-ID': 'has space' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toMatch(/^req_/);
    const param = deref(doc.paths['/v1/nodes'].get.parameters.find((p: any) => deref(p).name === 'X-Request-ID'));
    expect(ajv.validate(param.schema, 'has space')).toBe(true);
  });
});
