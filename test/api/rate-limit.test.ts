import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type ApiResponse, type TestApi } from '../helpers/api';

let api: TestApi;
/** A second API process on the same database: the limit must hold across processes. */
let api2: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  api2 = await startTestApi();
});
afterAll(async () => {
  await api2?.close();
  await api?.close();
});

describe('rate limits', () => {
  it('put X-RateLimit-* on every authenticated response, errors included', async () => {
    const acct = await api.newAccount('professional');
    for (const [method, path] of [
      ['GET', '/v1/nodes'],
      ['GET', '/v1/nodes/node_missing'],
      ['POST', '/v1/nodes'],
    ] as const) {
      const r = await api.request(method, path, { key: acct.keys.test, body: method === 'POST' ? {} : undefined });
      expect(r.headers.get('x-ratelimit-limit')).toBe('600');
      expect(Number(r.headers.get('x-ratelimit-remaining'))).toBeLessThan(600);
      const reset = Number(r.headers.get('x-ratelimit-reset'));
      expect(reset % 60).toBe(0);
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
    }
  });

  it('tell enterprise accounts they are unlimited', async () => {
    const r = await api.request('GET', '/v1/nodes');
    expect(r.status).toBe(200);
    expect(r.headers.get('x-ratelimit-limit')).toBe('unlimited');
    expect(r.headers.get('x-ratelimit-remaining')).toBe('unlimited');
    expect(Number(r.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
  });

  it('answer 429 rate_limited with Retry-After after 300 requests in a minute on Starter, counted across API processes', async () => {
    const acct = await api.newAccount('starter');
    const other = await api.newAccount('starter');
    const okByWindow = new Map<string, number>();
    let limited: ApiResponse | undefined;
    let lastRemaining = Infinity;
    let lastReset = '';
    for (let i = 0; i < 700 && !limited; i++) {
      const r = await (i % 2 === 0 ? api : api2).request('GET', '/v1/api_keys?per_page=1', { key: acct.keys.live });
      const reset = r.headers.get('x-ratelimit-reset')!;
      const remaining = Number(r.headers.get('x-ratelimit-remaining'));
      expect(r.headers.get('x-ratelimit-limit')).toBe('300');
      if (reset === lastReset) expect(remaining).toBeLessThan(lastRemaining === 0 ? 1 : lastRemaining);
      lastReset = reset;
      lastRemaining = remaining;
      if (r.status === 429) limited = r;
      else {
        expect(r.status).toBe(200);
        okByWindow.set(reset, (okByWindow.get(reset) ?? 0) + 1);
      }
    }
    expect(limited).toBeDefined();
    const reset = limited!.headers.get('x-ratelimit-reset')!;
    // Both processes shared one counter: exactly 300 successes in the window that ran out.
    expect(okByWindow.get(reset)).toBe(300);
    expect(limited!.body.error.code).toBe('rate_limited');
    expect(limited!.body.error.request_id).toBe(limited!.headers.get('x-request-id'));
    expect(limited!.headers.get('x-ratelimit-remaining')).toBe('0');
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(Math.abs(Date.now() / 1000 + retryAfter - Number(reset))).toBeLessThanOrEqual(2);

    // Per account: another account of the same plan is not affected.
    const fine = await api.request('GET', '/v1/nodes', { key: other.keys.test });
    expect(fine.status).toBe(200);
    expect(fine.headers.get('x-ratelimit-remaining')).toBe('299');
  });

  it('never limit the probes', async () => {
    for (const path of ['/healthz', '/v1/openapi.json']) {
      const r = await api.request('GET', path, { key: null });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit')).toBeNull();
    }
  });
});
