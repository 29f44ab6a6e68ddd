import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../test/helpers/api';
import { report, TARGETS } from './targets';

/** Read latency of the API: GET /v1/nodes (a page of 50 of 200 nodes), sequential requests. */
let api: TestApi;

beforeAll(async () => {
  // The helper's account is on the enterprise plan: never rate limited.
  api = await startTestApi({ NF_LOG_LEVEL: 'silent' });
  const rows = Array.from({ length: 200 }, (_, i) => ({
    id: `node_01bench${String(i).padStart(19, '0')}`,
    account_id: api.account.accountId,
    environment: 'live' as const,
    address_scope: 'live',
    hostname: `bench-${i}`,
    ip_address: `198.51.${Math.floor(i / 250)}.${i % 250}`,
    ssh_port: 22,
    ssh_user: 'root',
    ssh_private_key_enc: 'v1:unused',
    ipmi_address: `203.0.${Math.floor(i / 250)}.${i % 250}`,
    ipmi_port: 623,
    ipmi_username: 'admin',
    ipmi_password_enc: 'v1:unused',
    status: 'ready',
  }));
  await api.db
    .insertInto('nodes')
    .values(rows as never)
    .execute();
});

afterAll(async () => {
  await api?.close();
});

describe('bench: API latency', () => {
  it(`GET /v1/nodes p95 within ${TARGETS.listNodesP95Ms} ms`, async () => {
    const key = api.account.keys.live;
    for (let i = 0; i < 20; i++) await api.request('GET', '/v1/nodes?per_page=50', { key }); // warm-up
    const ms: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t = process.hrtime.bigint();
      const r = await api.request('GET', '/v1/nodes?per_page=50', { key });
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      expect(r.status).toBe(200);
      expect(r.body.data).toHaveLength(50);
    }
    ms.sort((a, b) => a - b);
    const p = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!;
    report('list-nodes', {
      requests: ms.length,
      p50_ms: p(0.5).toFixed(1),
      p95_ms: p(0.95).toFixed(1),
      p99_ms: p(0.99).toFixed(1),
      target_p95_ms: TARGETS.listNodesP95Ms,
    });
    expect(p(0.95)).toBeLessThan(TARGETS.listNodesP95Ms);
  });
});
