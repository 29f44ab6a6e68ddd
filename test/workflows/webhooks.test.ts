import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { recordHistory } from '../helpers/history';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_REQUEST_TIMEOUT_MS } from '../../activities/webhooks.activities';
import { setNodeStatus } from '../../db/repositories/nodes.repository';
import { verifyWebhookSignature } from '../../lib/webhooks';
import type { RunningWorker } from '../../worker/main';
import { webhookDispatchScheduleId } from '../../workflows/contracts';
import { nodeBody, startTestApi, type TestApi, type TestAccount } from '../helpers/api';
import { waitFor } from '../helpers/spawned';
import { generateSshKey } from '../helpers/ssh-keys';
import { DISPATCH_LOCK_WAIT_MS, holdWebhookDispatchLock } from '../helpers/webhook-dispatch-lock';
import { Receiver, type Received } from '../helpers/webhook-receiver';
import { startTestWorker } from '../helpers/worker';

/**
 * Webhook delivery end to end: real API, real worker (its dispatcher Schedule on), real Temporal,
 * real PostgreSQL, and a real HTTP receiver on 127.0.0.1 (node:http) that checks signatures the way
 * docs/api.md tells a receiver to.
 */
let api: TestApi;
let worker: RunningWorker;
let acct: TestAccount;
let privateKey: string;
const receivers: Receiver[] = [];
let releaseDispatch: (() => Promise<void>) | undefined;

beforeAll(async () => {
  releaseDispatch = await holdWebhookDispatchLock();
  api = await startTestApi({ NF_WEBHOOK_DISPATCH_MS: '1000' });
  worker = await startTestWorker(api.config, api.db);
  acct = await api.newAccount();
  privateKey = generateSshKey().privateKey;
}, DISPATCH_LOCK_WAIT_MS);

afterAll(async () => {
  await api?.client.schedule
    .getHandle(webhookDispatchScheduleId(api.config.temporal.taskQueue))
    .delete()
    .catch(() => {});
  for (const r of receivers) await r.stop();
  await worker?.shutdown();
  await api?.close();
  await releaseDispatch?.();
});

/** A scheduled dispatcher run of this worker that started at least one delivery. */
async function recordDispatcherHistory(): Promise<void> {
  if (process.env.NF_RECORD_HISTORIES !== '1') return;
  const query = `WorkflowType = 'dispatchWebhooksWorkflow' AND TaskQueue = '${api.config.temporal.taskQueue}' AND ExecutionStatus = 'Completed'`;
  for await (const wf of api.client.workflow.list({ query })) {
    const history = await api.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    if (historyToJSON(history).includes('START_CHILD_WORKFLOW_EXECUTION_INITIATED')) {
      // Since issue 12 the dispatcher names each delivery (patch webhook-delivery-summaries); the
      // history of a run before it stays as dispatchWebhooksWorkflow--started-deliveries.
      await recordHistory(api.client, wf.workflowId, 'dispatchWebhooksWorkflow--named-deliveries');
      return;
    }
  }
  throw new Error('no dispatcher run that started a delivery');
}

async function receiver(): Promise<Receiver> {
  const r = new Receiver();
  receivers.push(r);
  await r.start();
  return r;
}

async function webhook(url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const r = await api.request('POST', '/v1/webhooks', { key: acct.keys.test, body: { url, events } });
  expect(r.status).toBe(201);
  return r.body.data;
}

/** A registered node whose registration has finished (so its own events are behind us). */
async function readyNode(): Promise<{ id: string }> {
  const node = (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body.data;
  await waitFor('the registration to end', 60_000, async () => {
    const op = (await api.request('GET', `/v1/operations/${node.operation_id}`, { key: acct.keys.test })).body.data;
    return ['completed', 'failed'].includes(op.status) ? op : undefined;
  });
  return node;
}

/** The id of the node's status change to `error` (the one the test made). */
async function theErrorEvent(nodeId: string): Promise<string> {
  const r = await api.request('GET', `/v1/events?node_id=${nodeId}&type=node.status_changed`, { key: acct.keys.test });
  const e = r.body.data.find((x: any) => x.data.to === 'error');
  expect(e).toBeDefined();
  return e.id;
}

async function deliveries(id: string): Promise<any[]> {
  const r = await api.request('GET', `/v1/webhooks/${id}/deliveries`, { key: acct.keys.test });
  expect(r.status).toBe(200);
  return r.body.data;
}

function expectSigned(got: Received, secret: string): any {
  const timestamp = String(got.headers['nf-timestamp']);
  const signature = String(got.headers['nf-signature']);
  expect(verifyWebhookSignature(secret, { timestamp, signature }, got.body)).toBe(true);
  expect(verifyWebhookSignature('whsec_wrong', { timestamp, signature }, got.body)).toBe(false);
  expect(verifyWebhookSignature(secret, { timestamp, signature }, got.body.replace('}', ',"x":1}'))).toBe(false);
  const event = JSON.parse(got.body);
  expect(got.headers['nf-event-id']).toBe(event.id);
  return event;
}

describe('webhook deliveries', () => {
  it('an operation completes → operation.completed arrives once, signed, and the delivery says delivered', async () => {
    const rx = await receiver();
    const hook = await webhook(rx.url(), ['operation.completed']);
    const reg = await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) });
    expect(reg.status).toBe(202);
    const opId = reg.body.data.operation_id;
    const got = await waitFor('the operation.completed webhook', 60_000, () =>
      rx.received.find((r) => JSON.parse(r.body).operation_id === opId),
    );
    const event = expectSigned(got, hook.secret);
    expect(event).toMatchObject({ type: 'operation.completed', operation_id: opId, data: { to: 'completed' } });
    const listed = (
      await api.request('GET', `/v1/events?operation_id=${opId}&type=operation.completed`, {
        key: acct.keys.test,
      })
    ).body.data;
    expect(listed.map((e: any) => e.id)).toEqual([event.id]);
    const [d] = await waitFor('the delivery marked delivered', 10_000, async () => {
      const ds = await deliveries(hook.id);
      return ds[0]?.status === 'delivered' ? ds : undefined;
    });
    expect(d).toMatchObject({ event_id: event.id, status: 'delivered', attempts: [{ status_code: 200, error: null }] });
    expect(rx.received.filter((r) => JSON.parse(r.body).id === event.id)).toHaveLength(1);
    // The delivery's workflow (id = the delivery's id) is named in the Web UI by its event, the
    // host it is about and the receiver's host (issue 12 item 7).
    const desc = await api.client.workflow.getHandle(d.id).describe();
    expect(await desc.staticSummary()).toBe(
      `Deliver operation.completed (host ${reg.body.data.hostname}) to ${new URL(rx.url()).host}`,
    );
    await recordDispatcherHistory();
  }, 90_000);

  it('a receiver answering 500, then a redirect (not followed), is retried by Temporal until it answers 2xx; each attempt is logged', async () => {
    const node = await readyNode();
    const rx = await receiver();
    let mineSeen = 0;
    rx.answerFor = (e) => (e.node_id === node.id && e.data.to === 'error' ? ([500, 302][mineSeen++] ?? 200) : 200);
    const hook = await webhook(rx.url(), ['node.status_changed']);
    await setNodeStatus(api.db, node.id, 'error', 'test: a status change');
    const eventId = await theErrorEvent(node.id);
    const d = await waitFor('the delivery delivered after retries', 60_000, async () =>
      (await deliveries(hook.id)).find((x) => x.event_id === eventId && x.status === 'delivered'),
    );
    expect(d.attempts.map((a: any) => [a.status_code, a.error])).toEqual([
      [500, 'answered 500'],
      [302, 'redirect (not followed)'],
      [200, null],
    ]);
    const mine = rx.received.filter((r) => r.headers['nf-event-id'] === d.event_id);
    expect(mine).toHaveLength(3);
    expect(rx.received.every((r) => r.body.length > 0)).toBe(true);
    for (const m of mine) expect(expectSigned(m, hook.secret).id).toBe(d.event_id);
    await recordHistory(api.client, d.id, 'deliverWebhookWorkflow--retried-delivered');
  }, 90_000);

  it('a receiver that is down, then up: the event is delivered once it listens again', async () => {
    const rx = await receiver();
    const hook = await webhook(rx.url(), ['node.status_changed']);
    const port = rx.port;
    await rx.stop();
    const node = (await api.request('POST', '/v1/nodes', { key: acct.keys.test, body: nodeBody(privateKey) })).body
      .data;
    await setNodeStatus(api.db, node.id, 'error', 'test: while the receiver is down');
    const downId = await theErrorEvent(node.id);
    await waitFor('a failed attempt while the receiver is down', 30_000, async () =>
      (await deliveries(hook.id)).find((x) => x.event_id === downId && x.attempts.length >= 1),
    );
    await rx.start(port);
    const eventId = await theErrorEvent(node.id);
    const d = await waitFor('the delivery once the receiver is up', 60_000, async () =>
      (await deliveries(hook.id)).find((x) => x.event_id === eventId && x.status === 'delivered'),
    );
    expect(d.attempts[0]).toMatchObject({ status_code: null, error: expect.stringMatching(/request failed/) });
    expect(d.attempts.at(-1)).toMatchObject({ status_code: 200, error: null });
    const got = rx.received.filter((r) => r.headers['nf-event-id'] === d.event_id);
    expect(got).toHaveLength(1);
    expect(expectSigned(got[0]!, hook.secret)).toMatchObject({
      type: 'node.status_changed',
      node_id: node.id,
      data: { to: 'error' },
    });
  }, 90_000);

  it('POST /v1/webhooks/{id}/test: a signed webhook.test arrives at that webhook', async () => {
    const rx = await receiver();
    const hook = await webhook(rx.url(), ['cluster.status_changed']);
    const t = await api.request('POST', `/v1/webhooks/${hook.id}/test`, { key: acct.keys.test });
    expect(t.status).toBe(202);
    const got = await waitFor('the test delivery', 30_000, () =>
      rx.received.find((r) => r.headers['nf-delivery-id'] === t.body.data.delivery_id),
    );
    expect(expectSigned(got, hook.secret)).toMatchObject({
      id: t.body.data.event_id,
      type: 'webhook.test',
      data: { webhook_id: hook.id },
    });
  }, 60_000);

  it('a receiver that hangs is cut off at the request timeout and retried; the attempt says so', async () => {
    const node = await readyNode();
    const rx = await receiver();
    let hung = 0;
    rx.hangFor = (e) => e.node_id === node.id && e.data.to === 'error' && hung++ === 0;
    const hook = await webhook(rx.url(), ['node.status_changed']);
    await setNodeStatus(api.db, node.id, 'error', 'test: a status change');
    const eventId = await theErrorEvent(node.id);
    const d = await waitFor('the delivery after the hung attempt', 60_000, async () =>
      (await deliveries(hook.id)).find((x) => x.event_id === eventId && x.status === 'delivered'),
    );
    expect(d.attempts.map((a: any) => [a.status_code, a.error])).toEqual([
      [null, `no answer within ${WEBHOOK_REQUEST_TIMEOUT_MS} ms`],
      [200, null],
    ]);
    expect(d.attempts[0].duration_ms).toBeGreaterThanOrEqual(WEBHOOK_REQUEST_TIMEOUT_MS - 100);
  }, 90_000);
});
